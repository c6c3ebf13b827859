"""Assignment (交办) and close-out (销号) of major and large risks (seed 002 三(二) 2, 4), the overdue
lists and the public announcements (公示). Who may do what is checked in geo/store/closeout.py; the
use cases are api/usecases/closeouts.py."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query
from fastapi.encoders import jsonable_encoder
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from api.auth import PrincipalDep
from api.deps import EngineDep
from api.schemas import CloseoutAnnouncements, CloseoutCase, CloseoutCaseList, OverdueCloseouts
from api.usecases import closeouts as usecase
from geo.closeout import Status
from geo.vocab import AssessmentMethod

router = APIRouter(prefix="/api/v1/closeouts", tags=["close-out (销号)"])

Key = Annotated[int, Path(ge=1, le=2**63 - 1, description="the case's id")]
Adcode = Annotated[
    str | None, Query(max_length=12, description="行政区划代码: the unit and everything below it")
]


class Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class CloseoutAssignIn(Body):
    risk_unit_id: Annotated[int, Field(ge=1, le=2**63 - 1, description="the major or large risk unit")]
    assigning_unit: Annotated[
        str, Field(min_length=1, max_length=200, description="交办单位, e.g. 区应急管理局")
    ]
    letter_ref: Annotated[str, Field(max_length=100, description="交办函 number")] | None = None
    assigned_on: dt.date | None = Field(None, description="date of the letter; today (Beijing) when absent")


class RequestIn(Body):
    evidence: Annotated[
        str, Field(max_length=5000, description="the new controls (管控措施) that lower the risk")
    ]
    signed_by: Annotated[str, Field(max_length=100, description="治理责任单位主要负责人, who signs")]
    proposed_level: Annotated[int, Field(ge=1, le=4, strict=True)] | None = Field(
        None, description="the level after the new controls: 3 一般 or 4 低"
    )
    assessment_method: AssessmentMethod | None = Field(
        None, description="LEC, LS or MES of the new assessment"
    )
    assessment_inputs: dict[str, float] | None = Field(None, description='e.g. {"L": 1, "E": 6, "C": 7}')
    assessment_table: Annotated[str, Field(max_length=32)] | None = None
    requested_on: dt.date | None = Field(None, description="date of the signed request; today when absent")


class DecisionIn(Body):
    reason: Annotated[str, Field(max_length=2000)] | None = Field(None, description="required to reject")
    decided_on: dt.date | None = Field(None, description="date of the verification; today when absent")


class CloseoutRejectIn(DecisionIn):
    reason: Annotated[str, Field(min_length=1, max_length=2000, description="why the close-out is refused")]


def _json(body: Any, status_code: int = 200) -> JSONResponse:
    return JSONResponse(jsonable_encoder(body), status_code=status_code)


@router.post(
    "",
    status_code=201,
    summary="Assign (交办) a major or large risk to its responsible unit",
    response_model=CloseoutCase,
)
def assign(body: CloseoutAssignIn, engine: EngineDep, principal: PrincipalDep) -> JSONResponse:
    """A regulator holding the unit (or admin) records the assignment letter. The deadline is 3 working
    days after the risk was identified (the day it became major or large, from the history);
    `assigned_late` says whether it was kept."""
    with engine.begin() as conn:
        case = usecase.assign(
            conn,
            principal,
            body.risk_unit_id,
            assigning_unit=body.assigning_unit,
            letter_ref=body.letter_ref,
            assigned_on=body.assigned_on,
        )
    return _json(case, 201)


@router.get("", summary="Close-out cases the caller may see", response_model=CloseoutCaseList)
def list_cases(
    engine: EngineDep,
    principal: PrincipalDep,
    adcode: Adcode = None,
    status: Status | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
) -> JSONResponse:
    with engine.connect() as conn:
        found = usecase.list_cases(conn, principal, status=status, adcode=adcode, limit=limit, offset=offset)
    return _json(
        {"cases": found.cases, "numberMatched": found.number_matched, "numberReturned": len(found.cases)}
    )


@router.get(
    "/overdue", summary="Assignments and verifications past their deadline", response_model=OverdueCloseouts
)
def overdue(
    engine: EngineDep,
    principal: PrincipalDep,
    adcode: Adcode = None,
    as_of: Annotated[
        dt.date | None, Query(description="the day to judge on; today (Beijing) when absent")
    ] = None,
) -> JSONResponse:
    """`assignments`: major and large units not assigned within 3 working days of being identified;
    `verifications`: close-out requests not verified within 10 working days. Working days follow the
    State Council's holiday notices (data/cn_working_calendar.csv)."""
    with engine.connect() as conn:
        body = usecase.overdue(conn, principal, as_of=as_of, adcode=adcode)
    return _json(body)


@router.get(
    "/announcements", summary="公示: closed-out major risks (public)", response_model=CloseoutAnnouncements
)
def announcements(engine: EngineDep, adcode: Adcode = None) -> JSONResponse:
    """Seed 002: 重大风险销号要向社会公示. Each entry names the enterprise, the risk, where, the old and new
    level and the date; never people, phones, the evidence text or the position."""
    with engine.connect() as conn:
        rows = usecase.announcements(conn, adcode=adcode)
    return _json({"announcements": rows})


@router.get("/{key}", summary="One close-out case with its steps", response_model=CloseoutCase)
def get_case(key: Key, engine: EngineDep, principal: PrincipalDep) -> JSONResponse:
    with engine.connect() as conn:
        case = usecase.get_case(conn, principal, key)
    return _json(case)


@router.post(
    "/{key}/request",
    summary="Request the close-out (销号申请), signed by the principal person",
    response_model=CloseoutCase,
)
def request(key: Key, body: RequestIn, engine: EngineDep, principal: PrincipalDep) -> JSONResponse:
    """The enterprise owning the unit (for a public-area risk: a regulator holding it) gives the new
    controls and the new level (3 or 4), directly or as a new assessment; verification is due within 10
    working days."""
    fields = body.model_dump(exclude={"requested_on"}, exclude_none=True)
    with engine.begin() as conn:
        case = usecase.request(conn, principal, key, fields, requested_on=body.requested_on)
    return _json(case)


@router.post(
    "/{key}/approve",
    summary="Approve the close-out: the unit takes its new level",
    response_model=CloseoutCase,
)
def approve(key: Key, body: DecisionIn, engine: EngineDep, principal: PrincipalDep) -> JSONResponse:
    with engine.begin() as conn:
        case = usecase.decide(
            conn, principal, key, approve=True, reason=body.reason, decided_on=body.decided_on
        )
    return _json(case)


@router.post("/{key}/reject", summary="Reject the close-out, with the reason", response_model=CloseoutCase)
def reject(key: Key, body: CloseoutRejectIn, engine: EngineDep, principal: PrincipalDep) -> JSONResponse:
    with engine.begin() as conn:
        case = usecase.decide(
            conn, principal, key, approve=False, reason=body.reason, decided_on=body.decided_on
        )
    return _json(case)
