"""Close-out (销号) rules: the working-day calendar and its deadlines across 国庆 and 春节, the states of a
case, and what a close-out request must contain."""

from __future__ import annotations

import datetime as dt

import chinese_calendar
import pytest

from geo import closeout as rules
from geo.closeout import Action, CaseConflict, Status
from geo.errors import InvalidInput
from geo.resources import read_table

D = dt.date


def test_every_day_of_the_calendar_agrees_with_the_chinese_calendar_package() -> None:
    """Two independent sources: our table (typed from the State Council notices) and chinesecalendar."""
    cal = rules.calendar()
    assert (cal.first, cal.last) == (D(2024, 1, 1), D(2026, 12, 31))
    day, disagree = cal.first, []
    while day <= cal.last:
        if cal.is_working_day(day) != chinese_calendar.is_workday(day):
            disagree.append(day)
        day += dt.timedelta(days=1)
    assert disagree == []


def test_every_calendar_row_names_a_state_council_notice() -> None:
    rows = read_table(rules.CALENDAR_FILE)
    assert len(rows) > 100
    assert all(r["source"].startswith("国务院办公厅关于20") for r in rows)
    assert all(r["source"][8:12] == r["date"][:4] for r in rows)  # the notice of the day's own year


@pytest.mark.parametrize(
    ("start", "n", "due"),
    [
        (D(2026, 3, 2), 3, D(2026, 3, 5)),  # an ordinary week
        (D(2026, 3, 5), 3, D(2026, 3, 10)),  # over a weekend
        (D(2024, 9, 27), 3, D(2024, 10, 8)),  # 国庆 2024: Sunday 29 Sep is a make-up working day
        (D(2026, 2, 12), 3, D(2026, 2, 24)),  # 春节 2026: Saturday 14 Feb worked, 15–23 Feb off
        (D(2025, 9, 26), 10, D(2025, 10, 16)),  # 国庆+中秋 2025: 1–8 Oct off, 28 Sep and 11 Oct worked
        (D(2025, 1, 24), 10, D(2025, 2, 13)),  # 春节 2025: 28 Jan – 4 Feb off, 26 Jan and 8 Feb worked
        (D(2026, 9, 18), 10, D(2026, 10, 9)),  # 中秋 25 Sep and 国庆 2026 in one period
        (D(2024, 10, 3), 1, D(2024, 10, 8)),  # started inside the holiday
    ],
)
def test_deadlines_count_working_days(start: dt.date, n: int, due: dt.date) -> None:
    assert rules.calendar().add_working_days(start, n) == due


def test_assignment_and_verification_deadlines() -> None:
    assert rules.assignment_due(D(2024, 9, 27)) == D(2024, 10, 8)
    assert rules.verification_due(D(2025, 9, 26)) == D(2025, 10, 16)


def test_working_days_overdue() -> None:
    due = D(2026, 10, 9)
    assert rules.working_days_overdue(due, due) == 0
    assert rules.working_days_overdue(due, D(2026, 10, 10)) == 1  # a make-up Saturday counts
    assert rules.working_days_overdue(due, D(2026, 10, 11)) == 1  # Sunday does not
    assert rules.working_days_overdue(D(2026, 9, 30), D(2026, 10, 8)) == 1  # nor 国庆


def test_past_the_calendar_only_weekends_and_fixed_holidays_are_known() -> None:
    cal = rules.calendar()
    due = cal.add_working_days(D(2026, 12, 30), 3)
    assert due == D(2027, 1, 5)  # 元旦 (1 Jan) is a holiday by law in any year; the rest is provisional
    assert not cal.covers(due)
    assert not cal.is_working_day(D(2027, 10, 2))
    assert cal.is_working_day(D(2027, 10, 8))  # a Friday: whether 国庆 is extended is not known yet


def test_a_loaded_notice_extends_the_calendar() -> None:
    days = rules.parse_calendar_rows(
        [
            {"date": "2027-01-01", "kind": "holiday", "name": "元旦", "source": "国办发明电〔2026〕X号"},
            {"date": "2027-02-05", "kind": "holiday", "name": "春节", "source": "国办发明电〔2026〕X号"},
            {
                "date": "2027-02-20",
                "kind": "workday",
                "name": "春节调休上班",
                "source": "国办发明电〔2026〕X号",
            },
        ]
    )
    try:
        rules.install_days(days)
        cal = rules.calendar()
        assert cal.covers(D(2027, 6, 1))
        assert not cal.is_working_day(D(2027, 2, 5))
        assert cal.is_working_day(D(2027, 2, 20))
        assert cal.covers(D(2025, 6, 1))  # the packaged years stay
    finally:
        rules.install_days(())
    assert not rules.calendar().covers(D(2027, 6, 1))


def test_a_bad_notice_names_every_row() -> None:
    with pytest.raises(InvalidInput) as err:
        rules.parse_calendar_rows(
            [
                {"date": "2027-13-01", "kind": "holiday", "source": "x"},
                {"date": "2027-02-03", "kind": "workday", "source": "x"},  # a Wednesday
                {"date": "2027-02-04", "kind": "off", "source": ""},
            ]
        )
    fields = [p.field for p in err.value.problems]
    assert fields == ["row 2.date", "row 3.kind", "row 4.kind", "row 4.source"]
    assert all(p.reason_zh for p in err.value.problems)


@pytest.mark.parametrize(
    ("status", "action", "after"),
    [
        (Status.assigned, Action.request, Status.requested),
        (Status.rejected, Action.request, Status.requested),
        (Status.requested, Action.approve, Status.approved),
        (Status.requested, Action.reject, Status.rejected),
    ],
)
def test_allowed_transitions(status: Status, action: Action, after: Status) -> None:
    assert rules.next_status(status, action) is after


@pytest.mark.parametrize(
    ("status", "action"),
    [
        (Status.approved, Action.approve),
        (Status.approved, Action.request),
        (Status.assigned, Action.approve),
        (Status.rejected, Action.reject),
        (Status.requested, Action.request),
    ],
)
def test_forbidden_transitions_name_the_status(status: Status, action: Action) -> None:
    with pytest.raises(CaseConflict) as err:
        rules.next_status(status, action)
    (problem,) = err.value.problems
    assert problem.field == "status"
    assert status.value in problem.reason
    assert problem.reason_zh
    assert rules.STATUS_ZH[status] in problem.reason_zh


def test_a_request_with_a_new_assessment() -> None:
    got = rules.check_request(
        {
            "evidence": " 增设紧急切断阀 ",
            "signed_by": "王主任",
            "assessment_method": "LEC",
            "assessment_inputs": {"L": 1, "E": 6, "C": 7},
        }
    )
    assert (got.level, got.method, got.score, got.evidence) == (4, "LEC", 42.0, "增设紧急切断阀")
    direct = rules.check_request({"evidence": "x", "signed_by": "王主任", "proposed_level": 3})
    assert (direct.level, direct.method, direct.inputs, direct.score) == (3, "direct", None, None)


@pytest.mark.parametrize(
    ("body", "fields"),
    [
        ({}, {"evidence", "signed_by", "proposed_level"}),
        ({"evidence": "x", "signed_by": "王", "proposed_level": 2}, {"proposed_level"}),
        ({"evidence": "  ", "signed_by": "王", "proposed_level": 3}, {"evidence"}),
        (
            {
                "evidence": "x",
                "signed_by": "王",
                "assessment_method": "LEC",
                "assessment_inputs": {"L": 10, "E": 6, "C": 40},
            },
            {"proposed_level"},
        ),  # D = 2400: still major
        (
            {
                "evidence": "x",
                "signed_by": "王",
                "proposed_level": 3,
                "assessment_method": "LEC",
                "assessment_inputs": {"L": 1, "E": 6, "C": 7},
            },
            {"proposed_level"},
        ),  # says 3, assessed 4
        (
            {"evidence": "x", "signed_by": "王", "assessment_method": "LEC", "assessment_inputs": {"L": 1}},
            {"assessment.inputs.E", "assessment.inputs.C"},
        ),
    ],
)
def test_bad_requests_name_every_field(body: dict[str, object], fields: set[str]) -> None:
    with pytest.raises(InvalidInput) as err:
        rules.check_request(body)
    assert {p.field for p in err.value.problems} == fields
    assert all(p.reason_zh for p in err.value.problems)


def test_only_major_or_large_risks_are_assigned() -> None:
    rules.check_assignable(1)
    rules.check_assignable(2)
    for level in (3, 4):
        with pytest.raises(InvalidInput) as err:
            rules.check_assignable(level)
        assert err.value.problems[0].field == "risk_unit_id"
