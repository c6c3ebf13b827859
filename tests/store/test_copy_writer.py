"""The one COPY writer (geo.store.bulk): every value comes back from PostgreSQL as it was written — text
with tabs, line breaks, carriage returns, backslashes, the text `\\N` and `\\.`, quotes, astral characters;
arrays with commas, braces, quotes and NULLs; JSON; numbers; geometries."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any

import pandas as pd
import pytest
import shapely
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Connection, Engine, text

from geo.errors import InvalidInput
from geo.store.bulk import Stream, array_literal, copy_rows, text_fields

# Characters COPY's formats (text and CSV) and array literals treat specially, and whole values that look
# like their markers; mixed with any character but NUL (which PostgreSQL cannot store) and surrogates.
_AWKWARD = [
    "\t",
    "\n",
    "\r",
    "\r\n",
    "\\",
    "\\N",
    "\\.",
    '"',
    "'",
    ",",
    "{",
    "}",
    " ",
    "NULL",
    "\\t",
    "😀",
    "𠀀",
]
_CHARS = st.characters(exclude_categories=("Cs",), exclude_characters="\x00")
TEXT = st.lists(st.one_of(st.sampled_from(_AWKWARD), st.text(_CHARS, max_size=3)), max_size=6).map("".join)
ROW = st.fixed_dictionaries(
    {
        "t": st.one_of(st.none(), TEXT),
        "a": st.one_of(st.none(), st.lists(st.one_of(st.none(), TEXT), max_size=4)),
        "j": st.one_of(
            st.none(), st.dictionaries(TEXT, st.one_of(TEXT, st.integers(-(2**40), 2**40)), max_size=3)
        ),
        "n": st.one_of(st.none(), st.integers(-(2**63), 2**63 - 1)),
        "f": st.one_of(st.none(), st.floats(allow_nan=False, allow_infinity=False)),
        "b": st.one_of(st.none(), st.booleans()),
        "d": st.one_of(st.none(), st.dates()),
        "geometry": st.one_of(
            st.none(),
            st.tuples(st.floats(73, 135), st.floats(18, 53)).map(lambda xy: shapely.Point(*xy)),
        ),
    }
)
COLUMNS = ["t", "a", "j", "n", "f", "b", "d"]


@pytest.fixture(scope="module")
def probe(engine: Engine) -> Iterator[Connection]:
    """One connection with a table of every kind of column the register has, rolled back at the end."""
    with engine.connect() as conn:
        conn.execute(
            text(
                "CREATE TEMP TABLE copy_probe (i serial, t text, a text[], j jsonb, n bigint, f float8, "
                "b boolean, d date, geom geometry(Point, 4490))"
            )
        )
        yield conn
        conn.rollback()


def _stored(conn: Connection) -> list[dict[str, Any]]:
    rows = conn.execute(
        text("SELECT t, a, j, n, f, b, d, ST_AsBinary(geom) AS g FROM copy_probe ORDER BY i")
    ).mappings()
    out = []
    for r in rows:
        row = dict(r)
        g = row.pop("g")
        row["geometry"] = None if g is None else shapely.from_wkb(bytes(g))
        out.append(row)
    return out


def _round_trip(conn: Connection, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    conn.execute(text("TRUNCATE copy_probe RESTART IDENTITY"))
    copy_rows(conn, "copy_probe", rows, columns=COLUMNS, geometry_columns={"geometry": "geom"})
    return _stored(conn)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(rows=st.lists(ROW, min_size=1, max_size=8))
def test_every_value_comes_back_as_written(probe: Connection, rows: list[dict[str, Any]]) -> None:
    assert _round_trip(probe, rows) == rows


@settings(max_examples=200, deadline=None)
@given(
    values=st.one_of(
        st.lists(st.one_of(st.none(), TEXT)),
        st.lists(st.one_of(st.none(), st.integers(-(2**63), 2**63 - 1))),
        st.lists(st.one_of(st.none(), st.dates())),
    )
)
def test_a_column_of_a_frame_is_written_as_the_same_values_in_a_list(values: list[Any]) -> None:
    """Imports hand pandas columns (text, whole numbers and dates take a faster path): the fields are
    those of the same values in a list, which the round trip above holds to PostgreSQL."""
    assert text_fields(pd.Series(values, dtype=object), "c") == text_fields(values, "c")
    if values and all(isinstance(v, int) or v is None for v in values):
        assert text_fields(pd.Series(values, dtype="Int64"), "c") == text_fields(values, "c")


def test_the_values_the_csv_writer_broke_are_stored_as_written(probe: Connection) -> None:
    """A bare carriage return, the text \\N (which CSV with NULL '\\N' turned into NULL), \\. alone on a
    line (the end-of-data marker), array elements with commas, quotes, braces, spaces and NULLs."""
    rows: list[dict[str, Any]] = [
        {"t": "a\rb", "a": ["08", "17"]},
        {"t": "\\N", "a": ["a,b", 'say "hi"', "{x}", " padded ", "", "NULL", None, "C:\\dir"]},
        {"t": "\\."},
        {"t": "", "a": []},
        {"t": None, "a": None, "j": {"路径": "C:\\仪表\t01", "n": 1}},
        {"t": "𠀀😀\t\\t", "f": float("nan"), "d": dt.date(2026, 12, 4), "b": False, "n": 0},
    ]
    stored = _round_trip(probe, rows)
    expected = [
        {c: r.get(c) for c in [*COLUMNS, "geometry"]} | ({"f": None} if r.get("f") is not None else {})
        for r in rows
    ]
    assert stored == expected
    assert stored[1]["t"] == "\\N"
    assert stored[4]["t"] is None


def test_text_fields_escape_for_the_text_format() -> None:
    assert text_fields(["a\tb", None, "\\N", "\\.", "x\ry\n", 3, True, [1, None]], "c") == [
        "a\\tb",
        "\\N",
        "\\\\N",
        "\\\\.",
        "x\\ry\\n",
        "3",
        "t",
        '{"1",NULL}',
    ]
    assert text_fields([None, float("inf")], "c") == ["\\N", "\\N"]


def test_array_literals_quote_every_element() -> None:
    assert array_literal(["a,b", None, 'q"', "NULL", "", "\\"]) == '{"a,b",NULL,"q\\"","NULL","","\\\\"}'
    assert array_literal([]) == "{}"
    assert array_literal([["a"], ["b"]]) == '{{"a"},{"b"}}'


def test_a_nul_is_refused_with_the_column_name() -> None:
    with pytest.raises(InvalidInput) as err:
        text_fields(["ok", "bad\x00value"], "hazards")
    assert err.value.problems[0].field == "hazards"


def _chunks(n: int, fail_at: int | None = None) -> Iterator[tuple[bytes, int]]:
    for i in range(n):
        if i == fail_at:
            raise ValueError("chunk could not be made")
        yield f"{i}\n".encode(), i + 1


def test_the_copy_stream_hands_over_every_chunk_in_order_and_reports_progress() -> None:
    sent: list[int] = []
    stream = Stream(_chunks(5), sent.append)
    got = b"".join(iter(lambda: stream.read(3), b""))
    stream.close()
    assert got == b"0\n1\n2\n3\n4\n"
    assert sent == [1, 2, 3, 4, 5]


def test_the_copy_stream_raises_what_the_thread_raised() -> None:
    stream = Stream(_chunks(5, fail_at=2), lambda _: None)
    with pytest.raises(ValueError, match="could not be made"):
        b"".join(iter(lambda: stream.read(3), b""))
    stream.close()


def test_the_copy_stream_stops_its_thread_when_the_copy_ends_early() -> None:
    stream = Stream(_chunks(1000), lambda _: None)
    stream.read(1)  # the server refused the COPY after the first bytes
    stream.close()
    assert not stream._thread.is_alive()
