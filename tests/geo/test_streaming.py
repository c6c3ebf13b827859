"""geo.io.streaming: the streamed CSV is byte for byte write_rows_csv's, and the streamed workbook reads back
(openpyxl) with the same cells as write_sheets_xlsx's, formula-like text defused."""

from __future__ import annotations

import datetime as dt
import gzip
import io
from typing import Any

from openpyxl import load_workbook

from geo.io.streaming import csv_chunks, gzip_chunks, xlsx_chunks
from geo.io.writers import Sheet, write_rows_csv, write_sheets_xlsx

HEADER = ["名称 name", "数 n", "值 x", "日期 date", "是 ok", "空 none"]


def _rows(n: int) -> list[list[Any]]:
    odd = ["=1+2", "+86 595", "@SUM(A1)", "-3", "a<b & c>d", " 前后空格 ", "控制\x01字符", 'q"uote', "泉州"]
    return [
        [odd[i % len(odd)], i, i / 7, dt.date(2026, 1, 1) + dt.timedelta(days=i % 365), i % 2 == 0, None]
        for i in range(n)
    ]


def _no_control(v: Any) -> Any:
    return v.replace("\x01", "") if isinstance(v, str) else v


def _round(v: Any) -> Any:
    return round(v, 12) if isinstance(v, float) else v


def test_the_csv_stream_is_write_rows_csv_in_pieces() -> None:
    rows = _rows(4_500)
    pieces = list(csv_chunks(HEADER, rows))
    assert len(pieces) == 3  # 2,000 rows at a time
    assert b"".join(pieces) == write_rows_csv(HEADER, rows)
    assert b"".join(csv_chunks(HEADER, [])) == write_rows_csv(HEADER, [])
    assert gzip.decompress(b"".join(gzip_chunks(csv_chunks(HEADER, rows)))) == write_rows_csv(HEADER, rows)


def test_the_workbook_stream_reads_back_like_write_sheets_xlsx() -> None:
    sheets = [
        Sheet("双随机抽查计划", HEADER, _rows(3_000)),
        Sheet("说明", ["项目 item", "内容 value"], [["种子", 3]]),
    ]
    pieces = list(xlsx_chunks(sheets))
    assert len(pieces) > 1  # handed on while it is written
    streamed = load_workbook(io.BytesIO(b"".join(pieces)))
    # openpyxl refuses a control character (IllegalCharacterError); the stream drops it
    clean = [Sheet(s.title, s.header, [[_no_control(v) for v in r] for r in s.rows]) for s in sheets]
    built = load_workbook(io.BytesIO(write_sheets_xlsx(clean)))
    assert streamed.sheetnames == built.sheetnames == ["双随机抽查计划", "说明"]
    for name in streamed.sheetnames:
        a, b = streamed[name], built[name]
        assert a.freeze_panes == b.freeze_panes == "A2"
        assert a.print_title_rows == "$1:$1"
        assert a.page_setup.orientation == "landscape"
        assert all(cell.font.b for cell in a[1])
        assert all(cell.data_type != "f" for row in a.iter_rows() for cell in row)
        # openpyxl writes floats with 16 digits, the stream exactly (repr)
        mine = [[_round(v) for v in r] for r in a.iter_rows(values_only=True)]
        theirs = [[_round(v) for v in r] for r in b.iter_rows(values_only=True)]
        if name == "双随机抽查计划":
            assert mine[1][0] == "'=1+2"
            assert a["C9"].value == 7 / 7
            assert a["C3"].value == 1 / 7
            assert {r[0] for r in mine[1:]} >= {
                "'+86 595",
                "'@SUM(A1)",
                "'-3",
                "a<b & c>d",
                " 前后空格 ",
                "控制字符",
            }
            assert a["D2"].is_date
            assert a["D2"].value == dt.datetime(2026, 1, 1)
        assert mine == theirs
        for col in ("A", "B"):
            assert a.column_dimensions[col].width == b.column_dimensions[col].width
