"""The regulators' roster of inspectors (执法人员名录库): load it from the office's Excel (or CSV) list,
every row checked first, all rows or none; list it. The 双随机 plan and the cross-inspection teams use it."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, File, Query, UploadFile
from fastapi.encoders import jsonable_encoder
from fastapi.responses import JSONResponse

from api.auth import PrincipalDep
from api.deps import EngineDep
from api.schemas import RosterList, RosterLoaded
from geo.errors import InvalidInput, TooLarge
from geo.io.readers import file_format, read_file
from geo.roster import HEADERS, parse_roster
from geo.store import roster as store

router = APIRouter(prefix="/api/v1/roster", tags=["hidden hazards (隐患排查治理)"])
MAX_ROSTER_BYTES = 5 * 2**20


@router.post(
    "",
    status_code=201,
    summary="Load the inspectors' roster (执法人员名录库) from Excel or CSV",
    responses={
        200: {
            "description": "dry_run=true: how many inspectors the file holds; nothing stored",
            "model": RosterLoaded,
        }
    },
    response_model=RosterLoaded,
)
def load_roster(
    engine: EngineDep,
    principal: PrincipalDep,
    file: Annotated[
        UploadFile,
        File(
            description="xlsx or csv; columns: "
            + "; ".join(f"{f}: {' / '.join(h)}" for f, h in HEADERS.items())
        ),
    ],
    dry_run: Annotated[bool, Query(description="check only, store nothing")] = False,
) -> JSONResponse:
    """Columns 姓名, 执法证号, 所属辖区代码, 所属部门 (required), 检查组, 回避企业 (credit codes). Inspectors
    are matched by certificate number; those of the file's jurisdictions it no longer lists are
    deactivated. A regulator loads the roster of its own jurisdictions."""
    name = file.filename or ""
    if file_format(name) not in ("xlsx", "csv"):
        raise InvalidInput.one(
            "file", "send the roster as .xlsx or .csv", "名录库请以 .xlsx 或 .csv 文件上传"
        )
    data = file.file.read(MAX_ROSTER_BYTES + 1)
    if len(data) > MAX_ROSTER_BYTES:
        raise TooLarge(f"the roster is larger than {MAX_ROSTER_BYTES} bytes; 名录库文件过大")
    with tempfile.TemporaryDirectory(prefix="riskmap-roster-") as folder:
        path = Path(folder) / f"roster{Path(name).suffix.lower()}"
        path.write_bytes(data)
        entries = parse_roster(read_file(path, name))
    if dry_run:
        return JSONResponse({"dry_run": True, "inspectors": len(entries)})
    with engine.begin() as conn:
        counts = store.save_roster(conn, principal, entries)
    return JSONResponse(counts, status_code=201)


@router.get(
    "", summary="The inspectors of the roster in the caller's jurisdictions", response_model=RosterList
)
def list_roster(
    engine: EngineDep,
    principal: PrincipalDep,
    adcode: Annotated[str | None, Query(max_length=12)] = None,
) -> JSONResponse:
    with engine.connect() as conn:
        rows = store.list_roster(conn, principal, adcode=adcode)
    return JSONResponse(jsonable_encoder({"inspectors": rows, "count": len(rows)}))
