"""Reports generated from the register: the risk white paper (风险白皮书) (use case:
api/usecases/white_paper.py)."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query
from fastapi.responses import Response

from api.auth import PrincipalDep
from api.deps import EngineDep, SettingsDep
from api.schemas import DOCX, PDF, file_response
from api.usecases import white_paper as usecase
from geo.escape import ascii_filename

router = APIRouter(prefix="/api/v1/reports", tags=["reports"])


@router.get(
    "/white-paper",
    summary="The risk white paper (风险白皮书) of a jurisdiction and period, PDF or .docx",
    response_class=Response,
    responses=file_response(PDF, DOCX),
)
def white_paper(
    engine: EngineDep,
    settings: SettingsDep,
    principal: PrincipalDep,
    adcode: Annotated[
        str, Query(max_length=12, description="行政区划代码: the unit and everything below it")
    ],
    period: Annotated[str, Query(max_length=7, description="a month YYYY-MM or a year YYYY")],
    public: Annotated[
        bool,
        Query(description="the public version (anyone): counts and shares only, no names, people or phones"),
    ] = False,
    format: Annotated[Literal["pdf", "docx"], Query(description="pdf, or docx (editable)")] = "pdf",
) -> Response:
    """The four-colour map; counts and shares by level, sector and zone; the major risks (names in the
    internal version only); the trend; safety-distance violations; joint-prevention groups; hidden hazards;
    close-outs; the safety index with its formula and components, against the previous period. The
    internal version is for admins and the area's regulators (401/403 otherwise), the public one for all."""
    found = usecase.white_paper(engine, principal, adcode, period, settings, public=public, fmt=format)
    return Response(
        found.content,
        media_type=found.media_type,
        headers={"Content-Disposition": f'attachment; filename="{ascii_filename(found.filename)}"'},
    )
