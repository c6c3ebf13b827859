"""Plain tables (geo.io.writers.Sheet) written as a stream of bytes: CSV, and an Excel workbook written as
its XML parts straight into a zip, for downloads too big to build in memory or to wait for (a city's year
of 双随机 checks: 43,000 rows × 14 columns; openpyxl takes 5–25 s on those, this about one).

The workbook is what geo.io.writers.write_sheets_xlsx makes, read back the same by openpyxl and Excel:
one sheet per table, the header bold and frozen, columns as wide as their first 200 cells, text cells
escaped (geo.escape.escape_cell) and written as text (never a formula), numbers as numbers, dates as
date cells, printed landscape on A4 fitted to the width with the header on every page. Text goes to the
shared-string table (written after the sheets): a plan repeats its names, levels and inspectors, so the XML
to make and deflate is a third of inline text's; deflate runs at level 1 (a fifth more bytes, a quarter of
the time).
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import itertools
import math
import zipfile
import zlib
from collections.abc import Iterable, Iterator, Sequence
from typing import Any, Final

from geo.escape import escape_cell
from geo.io.writers import Sheet, csv_cell

__all__ = ["csv_chunks", "gzip_chunks", "xlsx_chunks"]

CHUNK: Final = 1 << 16  # bytes handed on at a time
ROWS_PER_CHUNK: Final = 2_000


def csv_chunks(header: Sequence[str], rows: Iterable[Sequence[Any]]) -> Iterator[bytes]:
    """The bytes of geo.io.writers.write_rows_csv(header, rows), a few thousand rows at a time: UTF-8 with a
    byte-order mark, CRLF line ends, text cells escaped, floats exact, None empty."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\r\n")
    w.writerow(header)
    first = True
    for n, r in enumerate(rows, start=1):
        w.writerow([csv_cell(v) for v in r])
        if n % ROWS_PER_CHUNK == 0:
            yield buf.getvalue().encode("utf-8-sig" if first else "utf-8")
            first = False
            buf.seek(0)
            buf.truncate()
    yield buf.getvalue().encode("utf-8-sig" if first else "utf-8")


def gzip_chunks(chunks: Iterable[bytes], level: int = 5) -> Iterator[bytes]:
    """chunks as one gzip stream (RFC 1952), compressed as they come: for a streamed text download, which
    the app's gzip middleware passes untouched."""
    z = zlib.compressobj(level, zlib.DEFLATED, 31)  # 16 + 15: the gzip header and trailer
    for chunk in chunks:
        out = z.compress(chunk)
        if out:
            yield out
    yield z.flush()


# --- xlsx ---------------------------------------------------------------------------------------------------

_MAIN: Final = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
_REL: Final = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
_PKG_REL: Final = "http://schemas.openxmlformats.org/package/2006/relationships"
_XML: Final = '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
_SHEET_TYPE: Final = "application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"

_STYLES: Final = (
    _XML + f'<styleSheet xmlns="{_MAIN}">'
    '<numFmts count="2"><numFmt numFmtId="164" formatCode="yyyy-mm-dd"/>'
    '<numFmt numFmtId="165" formatCode="yyyy-mm-dd hh:mm"/></numFmts>'
    '<fonts count="2"><font><sz val="11"/><name val="Calibri"/><family val="2"/></font>'
    '<font><b/><sz val="11"/><name val="Calibri"/><family val="2"/></font></fonts>'
    '<fills count="2"><fill><patternFill patternType="none"/></fill>'
    '<fill><patternFill patternType="gray125"/></fill></fills>'
    '<borders count="1"><border><left/><right/><top/><bottom/><diagonal/></border></borders>'
    '<cellStyleXfs count="1"><xf numFmtId="0" fontId="0" fillId="0" borderId="0"/></cellStyleXfs>'
    '<cellXfs count="4"><xf numFmtId="0" fontId="0" fillId="0" borderId="0" xfId="0"/>'
    '<xf numFmtId="0" fontId="1" fillId="0" borderId="0" xfId="0" applyFont="1"/>'
    '<xf numFmtId="164" fontId="0" fillId="0" borderId="0" xfId="0" applyNumberFormat="1"/>'
    '<xf numFmtId="165" fontId="0" fillId="0" borderId="0" xfId="0" applyNumberFormat="1"/></cellXfs>'
    '<cellStyles count="1"><cellStyle name="Normal" xfId="0" builtinId="0"/></cellStyles>'
    "</styleSheet>"
)
_BOLD, _DATE, _DATETIME = 1, 2, 3
_EPOCH: Final = dt.datetime(1899, 12, 30)  # Excel's day 0 (1900 date system, past its 1900-02-29)


_ESCAPE: Final = {
    **dict.fromkeys([*range(0x00, 0x09), 0x0B, 0x0C, *range(0x0E, 0x20), 0xFFFE, 0xFFFF]),
    ord("&"): "&amp;",
    ord("<"): "&lt;",
    ord(">"): "&gt;",
}
_SPACES: Final = " \t\r\n"


def _text(value: str) -> str:
    """value as XML text: & < > escaped, the characters XML 1.0 does not allow (a user's text could hold
    them) dropped."""
    return value.translate(_ESCAPE)


def _column(i: int) -> str:
    """0 → A, 25 → Z, 26 → AA."""
    name = ""
    i += 1
    while i:
        i, r = divmod(i - 1, 26)
        name = chr(65 + r) + name
    return name


def _text_cell(ref: str, value: str, strings: dict[str, int] | None, s: str = "") -> str:
    """A text cell: an index into the shared strings, or (`strings` None) the text inline, escaped."""
    if strings is None:
        text = escape_cell(value).translate(_ESCAPE)
        space = ' xml:space="preserve"' if text and (text[0] in _SPACES or text[-1] in _SPACES) else ""
        return f'<c r="{ref}" t="inlineStr"{s}><is><t{space}>{text}</t></is></c>'
    k = strings.get(value)
    if k is None:
        k = strings[value] = len(strings)
    return f'<c r="{ref}" t="s"{s}><v>{k}</v></c>'


def _cell(ref: str, value: Any, strings: dict[str, int] | None, style: int = 0) -> str:
    s = f' s="{style}"' if style else ""
    if value is None:
        return ""
    if isinstance(value, str):
        return _text_cell(ref, value, strings, s)
    if isinstance(value, bool):
        return f'<c r="{ref}" t="b"{s}><v>{int(value)}</v></c>'
    if isinstance(value, int):
        return f'<c r="{ref}"{s}><v>{value}</v></c>'
    if isinstance(value, float):
        return f'<c r="{ref}"{s}><v>{value!r}</v></c>' if math.isfinite(value) else ""
    if isinstance(value, dt.datetime):
        days = (value.replace(tzinfo=None) - _EPOCH) / dt.timedelta(days=1)
        return f'<c r="{ref}" s="{_DATETIME}"><v>{days!r}</v></c>'
    if isinstance(value, dt.date):
        return f'<c r="{ref}" s="{_DATE}"><v>{(value - _EPOCH.date()).days}</v></c>'
    return _text_cell(ref, str(value), strings, s)  # anything else as its text


def _shared_strings(strings: dict[str, int]) -> Iterator[str]:
    """The shared-string table: each text escaped (escape_cell, then XML), in the order of its index."""
    yield _XML + f'<sst xmlns="{_MAIN}" uniqueCount="{len(strings)}">'
    part: list[str] = []
    for value in strings:  # a dict keeps the order the indices were given in
        text = escape_cell(value).translate(_ESCAPE)
        space = ' xml:space="preserve"' if text and (text[0] in _SPACES or text[-1] in _SPACES) else ""
        part.append(f"<si><t{space}>{text}</t></si>")
        if len(part) >= 8_000:
            yield "".join(part)
            part = []
    yield "".join(part) + "</sst>"


def _width(value: Any) -> int:
    return len(str(escape_cell(value) if value is not None else ""))


def _sheet_xml(
    header: Sequence[str], rows: Iterable[Sequence[Any]], max_width: int, strings: dict[str, int] | None
) -> Iterator[str]:
    columns = [_column(i) for i in range(len(header))]
    widths = [_width(h) for h in header]
    rows = iter(rows)
    first = list(itertools.islice(rows, 199))
    for row in first:
        for i, v in enumerate(row[: len(widths)]):
            widths[i] = max(widths[i], _width(v))
    cols = "".join(
        f'<col min="{i + 1}" max="{i + 1}" width="{min(max_width, max(10, w * 1.6)):g}" customWidth="1"/>'
        for i, w in enumerate(widths)
    )
    yield (
        _XML + f'<worksheet xmlns="{_MAIN}" xmlns:r="{_REL}">'
        '<sheetPr><pageSetUpPr fitToPage="1"/></sheetPr>'
        '<sheetViews><sheetView workbookViewId="0">'
        '<pane ySplit="1" topLeftCell="A2" activePane="bottomLeft" state="frozen"/>'
        '<selection pane="bottomLeft" activeCell="A2" sqref="A2"/></sheetView></sheetViews>'
        f'<sheetFormatPr defaultRowHeight="15"/><cols>{cols}</cols><sheetData>'
    )
    head = "".join(_cell(f"{c}1", h, strings, _BOLD) for c, h in zip(columns, header, strict=False))
    yield f'<row r="1">{head}</row>'
    part: list[str] = []
    for n, row in enumerate(itertools.chain(first, rows), start=2):
        part.append(f'<row r="{n}">')
        for c, v in zip(columns, row, strict=False):
            if strings is None:
                part.append(_cell(f"{c}{n}", v, None))
            elif type(v) is str:  # most cells: _cell's first case, without its call
                k = strings.get(v)
                if k is None:
                    k = strings[v] = len(strings)
                part.append(f'<c r="{c}{n}" t="s"><v>{k}</v></c>')
            else:
                part.append(_cell(f"{c}{n}", v, strings))
        part.append("</row>")
        if len(part) >= 8_000:
            yield "".join(part)
            part = []
    yield "".join(part)
    yield (
        '</sheetData><printOptions gridLines="1"/>'
        '<pageMargins left="0.75" right="0.75" top="1" bottom="1" header="0.5" footer="0.5"/>'
        '<pageSetup paperSize="9" orientation="landscape" fitToWidth="1" fitToHeight="0"/></worksheet>'
    )


class _Sink(io.RawIOBase):
    """A write-only, unseekable file whose bytes are taken out as they come (zipfile then writes each
    member's sizes after its data)."""

    def __init__(self) -> None:
        self.parts: list[bytes] = []
        self.size = 0

    def writable(self) -> bool:
        return True

    def write(self, b: Any) -> int:
        data = bytes(b)
        self.parts.append(data)
        self.size += len(data)
        return len(data)

    def take(self) -> bytes:
        out = b"".join(self.parts)
        self.parts, self.size = [], 0
        return out


def _attr(value: str) -> str:
    return _text(value).replace('"', "&quot;")


def xlsx_chunks(
    sheets: Sequence[Sheet], *, max_width: int = 60, compresslevel: int = 1, inline: bool = False
) -> Iterator[bytes]:
    """The workbook of `sheets` (see the module's docstring) as a stream of bytes, each sheet's XML
    deflated into the zip as it is made. `inline`: text written in its cell, not in a shared-string table
    (more bytes, but nothing kept from row to row: the memory of a sheet whose rows come from an iterator
    stays that of its first 199 rows, however long it is)."""
    n = len(sheets)
    types = "".join(
        f'<Override PartName="/xl/worksheets/sheet{i}.xml" ContentType="{_SHEET_TYPE}"/>'
        for i in range(1, n + 1)
    )
    content_types = (
        _XML + '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
        '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
        '<Default Extension="xml" ContentType="application/xml"/>'
        '<Override PartName="/xl/workbook.xml" '
        'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/>'
        '<Override PartName="/xl/styles.xml" '
        'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.styles+xml"/>'
        '<Override PartName="/xl/sharedStrings.xml" '
        'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sharedStrings+xml"/>'
        f"{types}</Types>"
    )
    root_rels = (
        _XML + f'<Relationships xmlns="{_PKG_REL}"><Relationship Id="rId1" '
        f'Type="{_REL}/officeDocument" Target="xl/workbook.xml"/></Relationships>'
    )
    names = "".join(
        f'<sheet name="{_attr(s.title)}" sheetId="{i}" r:id="rId{i}"/>' for i, s in enumerate(sheets, 1)
    )
    titles = "".join(
        f'<definedName name="_xlnm.Print_Titles" localSheetId="{i}">\'{_text(s.title.replace(chr(39), chr(39) * 2))}\'!$1:$1</definedName>'
        for i, s in enumerate(sheets)
    )
    workbook = (
        _XML + f'<workbook xmlns="{_MAIN}" xmlns:r="{_REL}"><bookViews><workbookView/></bookViews>'
        f"<sheets>{names}</sheets><definedNames>{titles}</definedNames></workbook>"
    )
    workbook_rels = (
        _XML
        + f'<Relationships xmlns="{_PKG_REL}">'
        + "".join(
            f'<Relationship Id="rId{i}" Type="{_REL}/worksheet" Target="worksheets/sheet{i}.xml"/>'
            for i in range(1, n + 1)
        )
        + f'<Relationship Id="rId{n + 1}" Type="{_REL}/styles" Target="styles.xml"/>'
        + f'<Relationship Id="rId{n + 2}" Type="{_REL}/sharedStrings" Target="sharedStrings.xml"/>'
        + "</Relationships>"
    )
    strings: dict[str, int] | None = None if inline else {}
    sink = _Sink()
    with zipfile.ZipFile(sink, "w", zipfile.ZIP_DEFLATED, compresslevel=compresslevel) as zf:
        for name, text in (
            ("[Content_Types].xml", content_types),
            ("_rels/.rels", root_rels),
            ("xl/workbook.xml", workbook),
            ("xl/_rels/workbook.xml.rels", workbook_rels),
            ("xl/styles.xml", _STYLES),
        ):
            zf.writestr(name, text)
        for i, sheet in enumerate(sheets, 1):
            with zf.open(f"xl/worksheets/sheet{i}.xml", "w") as member:
                for piece in _sheet_xml(sheet.header, sheet.rows, max_width, strings):
                    member.write(piece.encode("utf-8"))
                    if sink.size >= CHUNK:
                        yield sink.take()
        with zf.open("xl/sharedStrings.xml", "w") as member:
            for piece in _shared_strings(strings or {}):
                member.write(piece.encode("utf-8"))
                if sink.size >= CHUNK:
                    yield sink.take()
    yield sink.take()
