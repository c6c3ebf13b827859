"""api.usecases.exports without HTTP: a register table in the principal's scope, written by the format's
writer, named for the download; 一县一册; bad kinds and formats."""

from __future__ import annotations

import csv
import datetime as dt
import io
import time
from typing import Any

import pytest
from openpyxl import load_workbook
from sqlalchemy import Engine, text
from sqlalchemy.exc import DBAPIError

from api.usecases import exports as usecase
from geo.access import ANONYMOUS, SYSTEM, Forbidden, Principal, Role, Unauthenticated
from geo.errors import InvalidInput, NotFound
from geo.store import exports as store

REGULATOR = Principal(Role.regulator, "quangang", adcodes=("350505",))
ELSEWHERE = Principal(Role.regulator, "huian", adcodes=("350521",))
ENTERPRISE = Principal(Role.enterprise, "a-plant", enterprise_id=1)
DAY = dt.date(2026, 12, 1)


def test_a_table_in_scope(engine: Engine, layout: dict[str, Any]) -> None:
    mine = usecase.export_table(engine, REGULATOR, "enterprises", adcode="350505", fmt="csv", today=DAY)
    assert (mine.filename, mine.media_type, mine.rows) == (
        "企业_350505_2026-12-01.csv",
        "text/csv; charset=utf-8",
        6,
    )
    rows = list(csv.reader(io.StringIO(mine.content.decode("utf-8-sig"))))
    names = {r[rows[0].index("企业名称")] for r in rows[1:]}
    assert "'=E店" in names  # defused; the importer takes the apostrophe off again
    assert usecase.export_table(engine, ELSEWHERE, "enterprises", fmt="geojson").rows == 0
    every = usecase.export_table(engine, SYSTEM, "risk_units", fmt="xlsx", today=DAY)
    assert every.filename == "企业风险点_全部_2026-12-01.xlsx"
    assert every.rows == 5
    assert load_workbook(io.BytesIO(every.content)).active.max_row == 6
    with pytest.raises(Unauthenticated):
        usecase.export_table(engine, ANONYMOUS, "enterprises")


def test_bad_kind_and_format_name_the_field(engine: Engine) -> None:
    with pytest.raises(InvalidInput) as caught:
        usecase.export_table(engine, SYSTEM, "people")
    assert caught.value.problems[0].field == "kind"
    with pytest.raises(InvalidInput) as caught:
        usecase.export_table(engine, SYSTEM, "enterprises", fmt="pdf")
    assert caught.value.problems[0].field == "format"
    assert caught.value.problems[0].reason_zh


def test_registers_and_templates(engine: Engine, layout: dict[str, Any]) -> None:
    county = usecase.county_register(engine, REGULATOR, "350505")
    assert county.filename == "泉港区_一县一册.xlsx"
    book = load_workbook(io.BytesIO(county.content))
    text = " ".join(str(v) for ws in book for row in ws.iter_rows(values_only=True) for v in row if v)
    assert "A厂" in text  # 重大
    assert "B厂" in text  # 较大
    assert "C厂" not in text  # 一般: not in the 一县一册
    one = usecase.enterprise_register(engine, REGULATOR, layout["A"], "xlsx")
    assert one.filename == "A厂_一企一册.xlsx"
    template = usecase.import_template("risk_units")
    assert template.filename == "企业风险点导入模板.xlsx"
    assert template.content.startswith(b"PK")


KINDS = ("enterprises", "risk_units", "public_risks", "protection_targets", "zones")


def _body(download: usecase.Download) -> bytes:
    return b"".join(download.chunks) if download.chunks is not None else download.content


@pytest.mark.parametrize("fmt", ["geojson", "csv"])
@pytest.mark.parametrize("who", [SYSTEM, REGULATOR, ELSEWHERE])
def test_a_streamed_export_is_the_whole_file_in_batches(
    engine: Engine, layout: dict[str, Any], monkeypatch: pytest.MonkeyPatch, fmt: str, who: Principal
) -> None:
    """Read in batches of 2 rows (every table cut mid-way), the streamed file is byte for byte the file
    written whole, in every scope."""
    monkeypatch.setattr(store, "BATCH", 2)
    for kind in KINDS:
        whole = usecase.export_table(engine, who, kind, fmt=fmt, crs="wgs84")
        streamed = usecase.export_table(engine, who, kind, fmt=fmt, crs="wgs84", stream=True)
        assert streamed.chunks is not None
        assert not streamed.content
        assert _body(streamed) == whole.content, (kind, fmt)
    assert usecase.export_table(engine, SYSTEM, "risk_units", fmt=fmt).rows == 5  # more than a batch


def _cells(content: bytes) -> list[tuple[Any, ...]]:
    """The workbook's cells, floats to 1e-12 (openpyxl writes 16 significant digits, the stream all 17)."""
    rows = load_workbook(io.BytesIO(content)).active.iter_rows(values_only=True)
    return [tuple(round(v, 12) if isinstance(v, float) else v for v in row) for row in rows]


@pytest.mark.parametrize("who", [SYSTEM, REGULATOR, ELSEWHERE])
def test_a_streamed_workbook_has_the_cells_of_the_whole_one(
    engine: Engine, layout: dict[str, Any], monkeypatch: pytest.MonkeyPatch, who: Principal
) -> None:
    """Excel streamed (text inline, batches of 2) holds the cells openpyxl writes for the whole table: text
    defused, dates as dates, numbers as numbers (coordinates exact, where openpyxl rounds the 17th digit)."""
    monkeypatch.setattr(store, "BATCH", 2)
    for kind in KINDS:
        whole = usecase.export_table(engine, who, kind, fmt="xlsx")
        streamed = usecase.export_table(engine, who, kind, fmt="xlsx", stream=True)
        assert _cells(_body(streamed)) == _cells(whole.content), kind
    cells = _cells(_body(usecase.export_table(engine, SYSTEM, "enterprises", fmt="xlsx", stream=True)))
    assert "'=E店" in {v for row in cells for v in row}  # defused
    read: list[int] = []
    batches = store.export_batches

    def counted(*args: Any, **kwargs: Any) -> Any:
        for frame, geoms in batches(*args, **kwargs):
            read.append(len(geoms))
            yield frame, geoms

    monkeypatch.setattr(store, "export_batches", counted)
    _body(usecase.export_table(engine, SYSTEM, "risk_units", fmt="xlsx", stream=True))
    assert read == [2, 2, 1]  # written from the cursor's batches (see the next test), never the whole table


def _exporting(engine: Engine) -> list[tuple[str, str]]:
    """(state, last statement) of the backends reading an export's cursor."""
    with engine.connect() as conn:
        return [
            (r.state, r.query)
            for r in conn.execute(
                text(
                    "SELECT state, query FROM pg_stat_activity WHERE datname = current_database() "
                    "AND pid <> pg_backend_pid() AND query LIKE 'FETCH FORWARD%'"
                )
            )
        ]


@pytest.mark.parametrize("fmt", ["geojson", "csv"])
def test_a_streamed_export_reads_a_server_side_cursor_batch_by_batch(
    engine: Engine, layout: dict[str, Any], monkeypatch: pytest.MonkeyPatch, fmt: str
) -> None:
    """The first rows are sent while the rest are still in PostgreSQL: a named cursor, fetched 2 rows at a
    time (not a client-side result read whole into libpq); the connection is closed at the end, and when
    the answer is dropped half-way."""
    monkeypatch.setattr(store, "BATCH", 2)
    download = usecase.export_table(engine, SYSTEM, "risk_units", fmt=fmt, stream=True)
    assert download.chunks is not None
    assert _exporting(engine) == []  # nothing read before the answer starts
    first = next(download.chunks)
    if fmt == "geojson":  # the FeatureCollection's head, then the first batch
        assert first.endswith(b"[")
        first = next(download.chunks)
        assert first.count(b'"type": "Feature"') == 2
    else:  # the BOM, the header and the first batch
        assert first.startswith("\ufeff".encode())
        assert first.count(b"\r\n") == 3
    [(state, query)] = _exporting(engine)
    assert state == "idle in transaction"
    fetch, forward, rows, source, cursor = query.split()
    assert (fetch, forward, source, cursor[:3]) == ("FETCH", "FORWARD", "FROM", '"c_')
    assert int(rows) <= 2  # a batch at a time (SQLAlchemy's first fetch is 1 row, for the columns)
    rest = list(download.chunks)
    assert len(rest) >= 2  # two more batches (5 rows), and the end
    assert _exporting(engine) == []  # the transaction ended with the last chunk

    dropped = usecase.export_table(engine, SYSTEM, "risk_units", fmt=fmt, stream=True)
    assert dropped.chunks is not None
    next(dropped.chunks)
    next(dropped.chunks)
    assert len(_exporting(engine)) == 1
    dropped.chunks.close()  # the client went away
    assert _exporting(engine) == []


def test_a_format_made_whole_is_refused_above_its_size_and_the_stream_is_not(
    engine: Engine, layout: dict[str, Any]
) -> None:
    for fmt in ("xlsx", "gpkg", "shp"):
        with pytest.raises(InvalidInput) as caught:
            usecase.export_table(engine, SYSTEM, "risk_units", fmt=fmt, max_rows=4)
        problem = caught.value.problems[0]
        assert problem.field == "format"
        assert "at most 4 rows; this one has 5" in problem.reason
        assert "format=csv" in problem.reason
        assert "csv" in (problem.reason_zh or "")
        assert usecase.export_table(engine, SYSTEM, "risk_units", fmt=fmt, max_rows=5).rows == 5
    streamed = usecase.export_table(engine, SYSTEM, "risk_units", fmt="csv", stream=True, max_rows=4)
    assert _body(streamed).count(b"\r\n") == 6
    book = usecase.export_table(engine, SYSTEM, "risk_units", fmt="xlsx", stream=True, max_rows=4)
    assert load_workbook(io.BytesIO(_body(book))).active.max_row == 6


def test_a_streamed_export_checks_scope_and_place_before_it_starts(engine: Engine) -> None:
    with pytest.raises(NotFound):
        usecase.export_table(engine, SYSTEM, "risk_units", adcode="999999", stream=True)
    with pytest.raises(Forbidden):
        usecase.export_table(engine, ENTERPRISE, "zones", fmt="csv", stream=True)
    assert _exporting(engine) == []


def test_a_stalled_stream_is_cut_off_and_its_connection_dropped(
    engine: Engine, layout: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A client that stops reading for STALL_S seconds loses its answer (PostgreSQL ends the session), and
    nothing is left holding the snapshot."""
    monkeypatch.setattr(store, "BATCH", 2)
    monkeypatch.setattr(store, "STALL_S", 1)
    download = usecase.export_table(engine, SYSTEM, "risk_units", fmt="csv", stream=True)
    assert download.chunks is not None
    next(download.chunks)
    assert len(_exporting(engine)) == 1
    time.sleep(2.5)
    with pytest.raises(DBAPIError):
        list(download.chunks)
    assert _exporting(engine) == []
    again = usecase.export_table(engine, SYSTEM, "risk_units", fmt="csv", stream=True)
    assert _body(again).count(b"\r\n") == 6  # the pool hands out a live connection
