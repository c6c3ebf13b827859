"""The one COPY writer: every bulk load (imports, the demo, tests, benches) goes through here.

Rows are sent in COPY's text format (PostgreSQL docs, "COPY … File Formats"): fields separated by a tab,
rows by a newline, NULL as `\\N`, and in every value a backslash, tab, newline and carriage return written
as `\\\\`, `\\t`, `\\n`, `\\r`. Nothing else needs escaping in text format, so a value that holds the text
`\\N` or `\\.` is sent as `\\\\N` or `\\\\.` and stored as written. Arrays are PostgreSQL array literals
whose elements are double-quoted (a `"` or `\\` inside escaped with a backslash), then escaped as any
text; JSON is `json.dumps`; geometries are hex EWKB made in one vectorised call. A NUL, which PostgreSQL
cannot store in text, is refused with the column's name (`InvalidInput`).

The text is made chunk by chunk in a thread while the server stores the chunks before (`copy_chunks`).
"""

from __future__ import annotations

import datetime as dt
import json
import math
import queue
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from decimal import Decimal
from typing import Any

import numpy as np
import pandas as pd
import shapely
from psycopg2 import sql
from sqlalchemy import Connection

from geo.errors import InvalidInput
from geo.store.models import SRID

COPY_CHUNK = 10_000
NULL = "\\N"
_TEXT_ESCAPES = (("\\", "\\\\"), ("\t", "\\t"), ("\n", "\\n"), ("\r", "\\r"))
_SPECIAL = ("\\", "\t", "\n", "\r")
_PLAIN = frozenset({"string", "integer", "date", "empty"})  # pandas.api.types.infer_dtype kinds


def array_literal(values: Iterable[Any]) -> str:
    """A PostgreSQL array literal: `{"a","b \\"c\\"",NULL}`. Every element is quoted (so commas, braces,
    spaces, an empty string or the word NULL are kept as text); nested lists are sub-arrays."""
    parts = []
    for v in values:
        if isinstance(v, list | tuple | np.ndarray):
            parts.append(array_literal(v))
            continue
        text = value_text(v)
        if text is None:
            parts.append("NULL")
        else:
            parts.append('"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"')
    return "{" + ",".join(parts) + "}"


def _float_text(value: float) -> str | None:
    return repr(value) if math.isfinite(value) else None


def _json_text(value: dict[str, Any]) -> str:
    return json.dumps(value, ensure_ascii=False)


# The common types by exact type (one dict lookup); value_text's checks below cover the rest.
_BY_TYPE: dict[type, Callable[[Any], str | None]] = {
    int: str,
    float: _float_text,
    bool: lambda v: "t" if v else "f",
    dt.date: dt.date.isoformat,
    dt.datetime: dt.datetime.isoformat,
    list: array_literal,
    tuple: array_literal,
    dict: _json_text,
}


def value_text(value: Any) -> str | None:
    """A Python value as PostgreSQL reads it in a text field, before COPY's escaping; None for NULL
    (None, NaN, infinities, pandas' NA and NaT)."""
    by_type = _BY_TYPE.get(type(value))
    if by_type is not None:
        return by_type(value)
    if value is None or value is pd.NA or value is pd.NaT:
        return None
    if isinstance(value, str):
        return value
    if isinstance(value, bool | np.bool_):
        return "t" if value else "f"
    if isinstance(value, float | np.floating):
        return repr(float(value)) if math.isfinite(value) else None
    if isinstance(value, int | np.integer | Decimal):
        return str(value)
    if isinstance(value, list | tuple | np.ndarray):
        return array_literal(value)
    if isinstance(value, dict):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, dt.date | dt.datetime | dt.time):
        return value.isoformat()
    return str(value)


def text_fields(values: Sequence[Any] | pd.Series, name: str) -> list[str]:
    """One column as fields of COPY's text format. Strings, the bulk of a register, are taken as they
    are; the values are joined into one string so that `str.replace` escapes them all at C speed."""
    texts: list[str | None]
    if isinstance(values, pd.Series) and pd.api.types.infer_dtype(values, skipna=True) in _PLAIN:
        # text, whole numbers and dates are their own text: str() at C speed, missing ones found by pandas
        missing = np.flatnonzero(values.isna().to_numpy()).tolist()
        texts = list(map(str, values.tolist()))
    else:
        seq = values.tolist() if isinstance(values, pd.Series | np.ndarray) else list(values)
        texts = [v if type(v) is str else value_text(v) for v in seq]
        missing = [i for i, t in enumerate(texts) if t is None]
    if len(missing) == len(texts):
        return [NULL] * len(texts)
    for i in missing:
        texts[i] = ""
    joined = "\x00".join(texts)  # type: ignore[arg-type]  # the missing ones are "" now
    if joined.count("\x00") != len(texts) - 1:
        raise InvalidInput.one(name, "contains a NUL character", "含有空字符 (NUL)")
    if any(ch in joined for ch in _SPECIAL):
        for old, new in _TEXT_ESCAPES:
            joined = joined.replace(old, new)
    fields = joined.split("\x00")
    for i in missing:
        fields[i] = NULL
    return fields


def geometry_fields(geoms: Sequence[Any] | np.ndarray) -> list[str]:
    """Shapely geometries (None for NULL) as hex EWKB in CGCS2000."""
    arr = np.asarray(geoms, dtype=object)
    hexes = shapely.to_wkb(shapely.set_srid(arr, SRID), hex=True, include_srid=True)
    return [NULL if h is None else h for h in hexes.tolist()]


def copy_text(columns: Sequence[Sequence[str]]) -> bytes:
    """Fields made by `text_fields` / `geometry_fields`, one list per column, as COPY text rows."""
    if not columns or not len(columns[0]):
        return b""
    return ("\n".join(map("\t".join, zip(*columns, strict=True))) + "\n").encode("utf-8")


def frame_text(frame: pd.DataFrame) -> bytes:
    """Every column of `frame`, in order, as COPY text rows (geometries already as hex EWKB strings)."""
    return copy_text([text_fields(frame[c], str(c)) for c in frame.columns])


def copy_statement(table: str, columns: Sequence[str]) -> sql.Composed:
    return sql.SQL("COPY {} ({}) FROM STDIN").format(  # text format, NULL is \N
        sql.Identifier(table), sql.SQL(", ").join(map(sql.Identifier, columns))
    )


def copy_chunks(
    conn: Connection,
    table: str,
    columns: Sequence[str],
    chunks: Iterator[tuple[bytes, int]],
    sent: Callable[[int], None] | None = None,
) -> None:
    """One COPY of `chunks` ((text, rows in it) pairs) into `table`; the chunks are made in a thread while
    the server stores the ones before, and `sent(rows so far)` is called per chunk sent."""
    raw = conn.connection.dbapi_connection
    assert raw is not None
    cur = raw.cursor()
    stream = Stream(chunks, sent or (lambda _: None))
    try:
        cur.copy_expert(copy_statement(table, columns).as_string(cur), stream, size=1 << 20)
    finally:
        stream.close()
        cur.close()


def copy_rows(
    conn: Connection,
    table: str,
    rows: Sequence[Mapping[str, Any]],
    *,
    columns: Sequence[str],
    geometry_columns: Mapping[str, str] | None = None,
) -> int:
    """COPY `rows` into `table`. `geometry_columns` maps a row key holding shapely geometries to its
    table column (e.g. {"geometry": "geom"}); None geometries become NULL. One round trip."""
    geometry_columns = dict(geometry_columns or {})
    if not rows:
        return 0
    target = [*columns, *geometry_columns.values()]

    def chunks() -> Iterator[tuple[bytes, int]]:
        for start in range(0, len(rows), COPY_CHUNK):
            part = rows[start : start + COPY_CHUNK]
            fields = [text_fields([r.get(c) for r in part], c) for c in columns]
            fields += [geometry_fields([r.get(k) for r in part]) for k in geometry_columns]
            yield copy_text(fields), start + len(part)

    copy_chunks(conn, table, target, chunks())
    return len(rows)


class Stream:
    """A file for psycopg2's `copy_expert` whose bytes a thread makes ahead (two chunks at most), so
    Python prepares chunk k + 1 while the server stores chunk k. An error in the thread is raised by
    `read`; `close` stops the thread when the COPY ends early."""

    def __init__(self, chunks: Iterator[tuple[bytes, int]], sent: Callable[[int], None]) -> None:
        self._queue: queue.Queue[tuple[bytes, int] | BaseException | None] = queue.Queue(maxsize=2)
        self._stop = threading.Event()
        self._chunk, self._offset, self._done = b"", 0, False
        self._rows_in_chunk = 0
        self._sent = sent
        self._thread = threading.Thread(target=self._fill, args=(chunks,), daemon=True)
        self._thread.start()

    def _put(self, item: tuple[bytes, int] | BaseException | None) -> bool:
        while not self._stop.is_set():
            try:
                self._queue.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def _fill(self, chunks: Iterator[tuple[bytes, int]]) -> None:
        try:
            for item in chunks:
                if not self._put(item):
                    return
            self._put(None)
        except BaseException as exc:  # handed to the reading thread, which raises it
            self._put(exc)

    def read(self, size: int = -1) -> bytes:
        while self._offset >= len(self._chunk) and not self._done:
            if self._rows_in_chunk:
                self._sent(self._rows_in_chunk)
                self._rows_in_chunk = 0
            item = self._queue.get()
            if item is None:
                self._done = True
            elif isinstance(item, BaseException):
                raise item
            else:
                (self._chunk, self._rows_in_chunk), self._offset = item, 0
        if size < 0:
            size = len(self._chunk) - self._offset
        out = self._chunk[self._offset : self._offset + size]
        self._offset += len(out)
        return out

    def close(self) -> None:
        self._stop.set()
        self._thread.join()
