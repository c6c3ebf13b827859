"""POST /api/v1/imports: a register file (multipart), checked row by row, written all or nothing.

The upload is streamed to a temporary folder and counted while it arrives: a body over the limit is
refused with 413 as soon as it passes it, before the rest is read.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse
from python_multipart.exceptions import FormParserError
from python_multipart.multipart import File, create_form_parser
from starlette.concurrency import run_in_threadpool

from api.auth import PrincipalDep
from api.deps import CrsDep, EngineDep, SettingsDep
from api.schemas import ImportReport
from api.settings import ImportSettings
from geo.errors import InvalidInput, TooLarge
from geo.io.fields import Kind
from geo.io.readers import file_format
from geo.io.safezip import ZipLimits
from geo.io.tempfiles import temp_folder
from geo.store.imports import ImportRejected, check_kind_allowed, import_file, parse_kind

router = APIRouter(tags=["import and export"])

KIND_DOC = (
    "enterprises (企业), risk_units (企业风险点, linked by the enterprise's credit code), public_risks "
    "(公共区域风险), protection_targets (防护目标) or zones (园区、网格)"
)


def _too_large(limit: int) -> TooLarge:
    return TooLarge(
        f"the upload is larger than the limit of {limit} bytes ({limit / 2**20:.0f} MB); 上传文件超过大小限制"
    )


async def _receive(request: Request, folder: Path, limit: int) -> tuple[Path, str]:
    """Stream the multipart body; the part named `file` lands in `folder`. (path, uploaded file name)."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit + 64 * 1024:
        raise _too_large(limit)  # the multipart envelope adds a few hundred bytes; refuse early
    files: list[File] = []
    try:
        parser = create_form_parser(
            {"Content-Type": request.headers.get("content-type", "").encode("latin-1")},
            on_field=lambda _field: None,
            on_file=files.append,
            config={"MAX_MEMORY_FILE_SIZE": 1 << 20, "UPLOAD_DIR": str(folder)},
        )
    except (ValueError, FormParserError):
        raise InvalidInput.one(
            "file",
            "send the file as multipart/form-data in a part named 'file'",
            "请以 multipart/form-data 上传，字段名为 file",
        ) from None
    received = 0
    try:
        async for chunk in request.stream():
            received += len(chunk)
            if received > limit + 64 * 1024:
                raise _too_large(limit)
            parser.write(chunk)
        parser.finalize()
    except FormParserError as exc:
        raise InvalidInput.one(
            "file", f"malformed multipart body: {exc}", "multipart 请求体格式错误"
        ) from None
    upload = next((f for f in files if f.field_name == b"file"), None)
    if upload is None:
        raise InvalidInput.one("file", "no part named 'file' in the form", "表单中没有名为 file 的文件")
    name = (upload.file_name or b"").decode("utf-8", "replace")
    file_format(name)  # the extension first: a clear 422 for .txt, .exe…
    size = upload.size or 0
    if size > limit:
        raise _too_large(limit)
    target = folder / f"upload{Path(name).suffix.lower()}"
    source = upload.file_object
    source.seek(0)
    with target.open("wb") as out:
        shutil.copyfileobj(source, out)
    upload.close()
    return target, name


def _zip_limits(s: ImportSettings) -> ZipLimits:
    return ZipLimits(
        max_members=s.max_zip_members, max_total_bytes=s.max_unzipped_bytes, max_ratio=s.max_zip_ratio
    )


@router.post(
    "/api/v1/imports",
    summary="Import a register file (GeoJSON, GeoPackage, zipped Shapefile, CSV, Excel)",
    responses={
        200: {"description": "dry run: the report only", "model": ImportReport},
        201: {"description": "every row was written", "model": ImportReport},
        403: {"description": "this account may not import this kind"},
        413: {"description": "the upload is over the limit"},
        422: {"description": "an unreadable file, or rows that break a rule (each listed); nothing written"},
    },
    # the body is parsed by hand (streamed, counted); this tells the docs what to send
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "multipart/form-data": {
                    "schema": {
                        "type": "object",
                        "required": ["file"],
                        "properties": {"file": {"type": "string", "format": "binary"}},
                    }
                }
            },
        }
    },
)
async def create_import(
    request: Request,
    principal: PrincipalDep,
    engine: EngineDep,
    settings: SettingsDep,
    crs: CrsDep,
    kind: Annotated[str, Query(description=KIND_DOC)],
    dry_run: Annotated[bool, Query(description="check every row and report; write nothing")] = False,
    jurisdiction: Annotated[
        str | None, Query(max_length=12, description="adcode every row must lie in (a row may name its own)")
    ] = None,
) -> JSONResponse:
    """Multipart form with the file in a part named `file`. Headers may be Chinese as in real registers
    (统一社会信用代码, 风险点名称, 风险等级, 经度, 纬度 …, see `GET /api/v1/templates/{kind}.xlsx`); CSV
    and Excel give the place as 经度/纬度 or WKT, in the request's `crs`. A projected file (.prj, the
    GeoPackage's CRS) is transformed to CGCS2000. Upsert by natural key: re-importing a file is safe."""
    checked = parse_kind(kind)
    check_kind_allowed(principal, checked)  # 403 before reading the body
    with temp_folder("upload") as tmp:  # removed however the request ends; a killed process's at startup
        path, name = await _receive(request, Path(tmp), settings.imports.max_upload_bytes)
        try:
            report = await run_in_threadpool(
                import_file,
                engine,
                path,
                name,
                kind=checked,
                principal=principal,
                crs=crs,
                jurisdiction=jurisdiction,
                dry_run=dry_run,
                zip_limits=_zip_limits(settings.imports),
            )
        except ImportRejected as exc:
            body: dict[str, Any] = {"detail": exc.message, **exc.report.as_dict()}
            return JSONResponse(body, status_code=422)
    return JSONResponse(report.as_dict(), status_code=200 if dry_run else 201)


__all__ = ["Kind", "router"]
