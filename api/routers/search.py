"""Search the register by what a user types (the one map's search box)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from fastapi.encoders import jsonable_encoder
from fastapi.responses import JSONResponse

from api.auth import PrincipalDep
from api.deps import CrsDep, EngineDep
from api.schemas import SearchAnswer
from geo.coords import from_storage_xy
from geo.store.search import MAX_QUERY, search

router = APIRouter(prefix="/api/v1", tags=["search"])


@router.get(
    "/search",
    summary="Find enterprises, risk units, protection targets and jurisdictions by name",
    response_model=SearchAnswer,
)
def find(
    engine: EngineDep,
    principal: PrincipalDep,
    crs: CrsDep,
    q: Annotated[str, Query(max_length=MAX_QUERY, description="name, credit code, address or adcode")],
    adcode: Annotated[str | None, Query(max_length=12, description="only inside this jurisdiction")] = None,
    limit: Annotated[int, Query(ge=1, le=50)] = 20,
) -> JSONResponse:
    """Matches anywhere in the text (case-insensitive), best first: names that start with it, then shorter
    names. Each result has its kind, id, name, a detail (credit code, level, address or adcode) and its
    bounding box [minlon, minlat, maxlon, maxlat] to zoom to. Jurisdictions are public; enterprises, risk
    units and protection targets only as the caller may see them."""
    with engine.connect() as conn:
        rows = search(conn, principal, q, adcode=adcode, limit=limit)
    results = []
    for r in rows:
        x0, y0 = from_storage_xy(r["xmin"], r["ymin"], crs)
        x1, y1 = from_storage_xy(r["xmax"], r["ymax"], crs)
        results.append(
            {
                "kind": r["kind"],
                "id": r["id"],
                "name": r["name"],
                "detail": r["detail"],
                "bbox": [round(float(v), 7) for v in (x0, y0, x1, y1)],
            }
        )
    return JSONResponse(jsonable_encoder({"q": q, "results": results}))
