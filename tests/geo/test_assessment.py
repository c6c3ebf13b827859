"""Level assessment: band edges of every table, every factor combination, bad input, direct levels."""

from __future__ import annotations

import csv
import itertools
import shutil
from collections.abc import Iterator
from decimal import Decimal
from math import prod
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from geo import assessment
from geo.assessment import Assessment, assess, bands, factors, level_for_score, tables
from geo.errors import InvalidInput, SetupError
from geo.resources import data_dir, read_table
from geo.vocab import AssessmentMethod

SCORED = [AssessmentMethod.LEC, AssessmentMethod.LS, AssessmentMethod.MES]
BAND_ROWS = read_table("assessment_bands.csv")
TABLES = sorted({(r["method"], r["table"]) for r in BAND_ROWS})


def combinations(method: str) -> Iterator[dict[str, Decimal]]:
    """Every combination of allowed factor values, straight from the CSV, as exact decimals."""
    by_factor: dict[str, list[Decimal]] = {}
    for r in read_table("assessment_factors.csv"):
        if r["method"] == method:
            by_factor.setdefault(r["factor"], []).append(Decimal(r["value"]))
    names = list(by_factor)
    for values in itertools.product(*(by_factor[n] for n in names)):
        yield dict(zip(names, values, strict=True))


def achievable(method: str) -> dict[Decimal, dict[str, Decimal]]:
    """Each achievable score with one combination that gives it."""
    out: dict[Decimal, dict[str, Decimal]] = {}
    for combo in combinations(method):
        out.setdefault(prod(combo.values(), start=Decimal(1)), combo)
    return out


def test_every_table_is_offered() -> None:
    for method, table in TABLES:
        assert table in tables(method)
    assert tables("LS")[0] == "default"


def test_factor_tables_match_the_method_definitions() -> None:
    assert {m: list(factors(m)) for m in SCORED} == {
        AssessmentMethod.LEC: ["L", "E", "C"],
        AssessmentMethod.LS: ["L", "S"],
        AssessmentMethod.MES: ["M", "E", "S"],
    }
    values = {m: {f: [v.value for v in vs] for f, vs in factors(m).items()} for m in SCORED}
    assert values[AssessmentMethod.LEC] == {
        "L": [10, 6, 3, 1, 0.5, 0.2, 0.1],
        "E": [10, 6, 3, 2, 1, 0.5],
        "C": [100, 40, 15, 7, 3, 1],
    }
    assert values[AssessmentMethod.LS] == {"L": [1, 2, 3, 4, 5], "S": [1, 2, 3, 4, 5]}
    assert values[AssessmentMethod.MES] == {
        "M": [5, 3, 1],
        "E": values[AssessmentMethod.LEC]["E"],
        "S": [10, 8, 4, 2, 1],
    }
    assert factors("LEC")["L"][0].meaning_zh == "完全可以预料"
    assert all(v.meaning_zh and v.source for m in SCORED for vs in factors(m).values() for v in vs)


@pytest.mark.parametrize(("method", "table"), TABLES)
def test_both_sides_of_every_cut_off(method: str, table: str) -> None:
    rows = [r for r in BAND_ROWS if r["method"] == method and r["table"] == table]
    level_above = {Decimal(r["min_exclusive"]): int(r["level"]) for r in rows if r["min_exclusive"]}
    scores = achievable(method)
    cut_offs = [r for r in rows if r["max_inclusive"]]
    assert len(cut_offs) == len(rows) - 1 == 3
    for r in cut_offs:
        edge, level = Decimal(r["max_inclusive"]), int(r["level"])
        assert level_above[edge] == level - 1  # the band above the edge is one step more severe
        # The edge itself belongs to the band below it ...
        assert level_for_score(method, float(edge), table) == level
        if edge in scores:
            assert assess(method, scores[edge], table=table).level == level
        # ... and the next achievable score above it to the band above.
        above = min(s for s in scores if s > edge)
        assert level_for_score(method, float(above), table) == level - 1
        result = assess(method, scores[above], table=table)
        assert (result.level, result.score) == (level - 1, float(above))


@pytest.mark.parametrize(("method", "table"), TABLES)
def test_every_combination_lands_in_exactly_one_band(method: str, table: str) -> None:
    table_bands = bands(method, table)
    assert [b.level for b in table_bands] == [1, 2, 3, 4]
    for combo in combinations(method):
        result = assess(method, combo, table=table)
        holders = [b for b in table_bands if b.contains(result.score or 0)]
        assert len(holders) == 1, (combo, result.score)
        assert result.level == holders[0].level
        assert result.score == float(prod(combo.values(), start=Decimal(1)))


# Readings of the published tables, written out so that an edited CSV shows up here too.
@pytest.mark.parametrize(
    ("method", "table", "score", "level"),
    [
        ("LEC", "default", 540, 1),
        ("LEC", "default", 320, 2),
        ("LEC", "default", 360, 1),
        ("LEC", "default", 160, 3),
        ("LEC", "default", 180, 2),
        ("LEC", "default", 70, 4),
        ("LEC", "default", 75, 3),
        ("LEC", "default", 0.05, 4),
        ("LS", "default", 25, 1),
        ("LS", "default", 20, 1),
        ("LS", "default", 16, 2),
        ("LS", "default", 10, 2),
        ("LS", "default", 9, 3),
        ("LS", "default", 4, 3),
        ("LS", "default", 3, 4),
        ("LS", "default", 1, 4),
        ("LS", "shandong", 20, 1),
        ("LS", "shandong", 16, 2),
        ("LS", "shandong", 15, 2),
        ("LS", "shandong", 12, 3),
        ("LS", "shandong", 9, 3),
        ("LS", "shandong", 8, 4),
        ("MES", "default", 200, 1),
        ("MES", "default", 180, 2),
        ("MES", "default", 150, 2),
        ("MES", "default", 90, 2),
        ("MES", "default", 80, 3),
        ("MES", "default", 50, 3),
        ("MES", "default", 48, 4),
        ("MES", "default", 18, 4),
        ("MES", "default", 0.5, 4),
    ],
)
def test_published_readings(method: str, table: str, score: float, level: int) -> None:
    assert level_for_score(method, score, table) == level


@given(st.sampled_from(TABLES), st.floats(0.01, 20_000), st.floats(0.01, 20_000))
def test_a_higher_score_is_never_less_severe(key: tuple[str, str], a: float, b: float) -> None:
    method, table = key
    lo, hi = sorted((a, b))
    assert level_for_score(method, lo, table) >= level_for_score(method, hi, table)


def test_lec_example_and_normalised_inputs() -> None:
    result = assess("lec", {"l": 6, "E": "6.0", " c ": 15.0})
    assert result == Assessment(AssessmentMethod.LEC, {"L": 6.0, "E": 6.0, "C": 15.0}, 540.0, 1, "default")
    assert assess(AssessmentMethod.LEC, {"L": 0.1, "E": 0.5, "C": 1}).score == 0.05  # exact, not 0.05000…1
    assert assess("LS", {"L": "3", "S": 3}).score == 9.0


def test_a_level_that_agrees_is_accepted() -> None:
    assert assess("LS", {"L": 4, "S": 5}, level=1).level == 1
    assert assess("LS", {"L": 4, "S": 5}, level="1").level == 1  # type: ignore[arg-type]


def problems(excinfo: pytest.ExceptionInfo[InvalidInput]) -> dict[str, str]:
    return {p.field: p.reason for p in excinfo.value.problems}


def test_disallowed_value_names_the_factor_and_the_allowed_values() -> None:
    with pytest.raises(InvalidInput) as e:
        assess("LEC", {"L": 7, "E": 6, "C": 15})
    reason = problems(e)["assessment.inputs.L"]
    assert "10, 6, 3, 1, 0.5, 0.2, 0.1" in reason
    assert e.value.problems[0].reason_zh


@pytest.mark.parametrize("bad", ["abc", None, True, float("nan"), float("inf"), [6], "", 0])
def test_values_that_are_not_allowed_numbers(bad: object) -> None:
    with pytest.raises(InvalidInput) as e:
        assess("LEC", {"L": bad, "E": 6, "C": 15})
    assert list(problems(e)) == ["assessment.inputs.L"]


def test_missing_extra_and_repeated_factors_are_all_reported() -> None:
    with pytest.raises(InvalidInput) as e:
        assess("MES", {"M": 5, "m": 3, "E": 6, "X": 1})
    found = problems(e)
    assert set(found) == {"assessment.inputs.M", "assessment.inputs.X", "assessment.inputs.S"}
    assert "twice" in found["assessment.inputs.M"]
    assert "unknown" in found["assessment.inputs.X"]
    assert "missing" in found["assessment.inputs.S"]


def test_scored_methods_need_inputs() -> None:
    with pytest.raises(InvalidInput) as e:
        assess("LS", None)
    assert list(problems(e)) == ["assessment.inputs"]
    with pytest.raises(InvalidInput) as e:
        assess("LS", [("L", 1)])  # type: ignore[arg-type]
    assert list(problems(e)) == ["assessment.inputs"]


@pytest.mark.parametrize("bad", [0, 5, 2.5, True, False, "high", "", -1, [1]])
def test_levels_must_be_integers_one_to_four(bad: object) -> None:
    with pytest.raises(InvalidInput) as e:
        assess("direct", None, level=bad)  # type: ignore[arg-type]
    assert list(problems(e)) == ["level"]
    with pytest.raises(InvalidInput) as e:
        assess("LS", {"L": 1, "S": 1}, level=bad)  # type: ignore[arg-type]
    assert list(problems(e)) == ["level"]


def test_a_contradicting_level_is_rejected() -> None:
    with pytest.raises(InvalidInput) as e:
        assess("LEC", {"L": 10, "E": 10, "C": 4 * 10}, level=2)
    assert problems(e) == {"level": "level 2 contradicts the LEC score 4000 (level 1)"}
    with pytest.raises(InvalidInput) as e:
        assess("LEC", {"L": 10, "E": 10, "C": 4}, level=2)  # C = 4 is not allowed: the factor is named
    assert list(problems(e)) == ["assessment.inputs.C"]
    with pytest.raises(InvalidInput) as e:
        assess("LEC", {"L": 10, "E": 2, "C": 40}, level=2)  # D = 800
    assert problems(e)["level"] == "level 2 contradicts the LEC score 800 (level 1)"
    assert "较大风险" in (e.value.problems[0].reason_zh or "")


def test_unknown_method_and_table() -> None:
    with pytest.raises(InvalidInput) as e:
        assess("HAZOP", {"L": 1})
    assert list(problems(e)) == ["assessment.method"]
    with pytest.raises(InvalidInput) as e:
        assess(None, {"L": 1}, field="units[3].assessment")  # type: ignore[arg-type]
    assert list(problems(e)) == ["units[3].assessment.method"]
    with pytest.raises(InvalidInput) as e:
        assess("LS", {"L": 1, "S": 1}, table="hebei")
    assert list(problems(e)) == ["assessment.table"]
    assert "shandong" in problems(e)["assessment.table"]
    with pytest.raises(InvalidInput):
        bands("LEC", "shandong")
    with pytest.raises(InvalidInput):
        level_for_score("LEC", 100, "nope")


def test_direct_method() -> None:
    assert assess("direct", None, level=3) == Assessment(AssessmentMethod.direct, {}, None, 3, "default")
    assert assess("Direct", {"L": 7, "anything": "x"}, level=2).level == 2  # inputs are not scored
    assert assess("direct", {}, level=4.0).level == 4  # type: ignore[arg-type]
    with pytest.raises(InvalidInput) as e:
        assess("direct", {"L": 10})
    assert list(problems(e)) == ["level"]
    with pytest.raises(InvalidInput) as e:
        assess("direct", None, level=1, table="shandong")
    assert list(problems(e)) == ["assessment.table"]


@pytest.mark.parametrize("bad", [0, -5, "x", None, True, float("nan")])
def test_level_for_score_rejects_non_scores(bad: object) -> None:
    with pytest.raises(InvalidInput) as e:
        level_for_score("LEC", bad)  # type: ignore[arg-type]
    assert list(problems(e)) == ["score"]
    with pytest.raises(InvalidInput) as e:
        level_for_score("direct", 100)
    assert list(problems(e)) == ["method"]


def test_bands_for_documentation() -> None:
    lec = bands("LEC")
    assert [(b.level, b.min_exclusive, b.max_inclusive) for b in lec] == [
        (1, 320, None),
        (2, 160, 320),
        (3, 70, 160),
        (4, None, 70),
    ]
    assert all(b.source for m, t in TABLES for b in bands(m, t))
    assert all("[verify]" in b.source for b in bands("LS", "shandong") + bands("MES"))


# --- the cut-offs live in the CSVs -------------------------------------------------------------------


@pytest.fixture
def data_copy(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A private copy of data/ that the module reads instead of the real one."""
    for f in data_dir().glob("*.csv"):
        shutil.copy(f, tmp_path / f.name)
    monkeypatch.setenv("RISKMAP_DATA_DIR", str(tmp_path))
    read_table.cache_clear()
    assessment._tables.cache_clear()
    yield tmp_path
    read_table.cache_clear()
    assessment._tables.cache_clear()


def edit_bands(path: Path, change: dict[tuple[str, str, str], dict[str, str]]) -> None:
    file = path / "assessment_bands.csv"
    with file.open(encoding="utf-8", newline="") as f:
        rows = list(csv.DictReader(f))
    for r in rows:
        r.update(change.get((r["method"], r["table"], r["level"]), {}))
    with file.open("w", encoding="utf-8", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)


def test_cut_offs_follow_the_csv(data_copy: Path) -> None:
    edit_bands(
        data_copy,
        {
            ("LEC", "default", "1"): {"min_exclusive": "400"},
            ("LEC", "default", "2"): {"max_inclusive": "400"},
        },
    )
    assert assess("LEC", {"L": 3, "E": 3, "C": 40}).level == 2  # D = 360: level 1 with the shipped table
    assert level_for_score("LEC", 360) == 2
    assert level_for_score("LEC", 420) == 1


@pytest.mark.parametrize(
    "change",
    [
        {("LEC", "default", "2"): {"max_inclusive": "300"}},  # a gap between 300 and 320
        {("LEC", "default", "1"): {"level": "3"}},  # levels out of order
        {("LS", "default", "4"): {"min_exclusive": "0"}},  # the lowest band must be open
        {("MES", "default", "3"): {"min_exclusive": "x"}},
    ],
)
def test_a_broken_band_table_is_a_setup_error(
    data_copy: Path, change: dict[tuple[str, str, str], dict[str, str]]
) -> None:
    edit_bands(data_copy, change)
    with pytest.raises(SetupError, match=r"assessment_bands\.csv"):
        level_for_score("LS", 5)
