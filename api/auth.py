"""Who is calling: the request's principal.

Contract every router relies on: `current_principal` (a FastAPI dependency) and `PrincipalDep`.
Until tokens land (issue 7) every caller is treated as the command-line operator; tests override
`current_principal` through `app.dependency_overrides` to act as another principal.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends

from geo.access import SYSTEM, Principal


def current_principal() -> Principal:
    return SYSTEM


PrincipalDep = Annotated[Principal, Depends(current_principal)]
