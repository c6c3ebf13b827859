"""The vectorised checks of an import give what the per-value ones gave: same values, same problems in
the same order, on random and messy values (property tests against the former implementations)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Hashable, Sequence
from typing import Any

import numpy as np
import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st

from geo.errors import InvalidInput
from geo.io.validate import (
    Problems,
    _by_unique,
    _coerce_text,
    _objects,
    _TextConverter,
    duplicates,
    per_distinct,
)

# --- the former implementations, kept here as the reference -------------------------------------------


def _memo_reference(
    rows: Sequence[int], keys: Sequence[Hashable], fn: Callable[..., Any], problems: Problems
) -> list[Any]:
    cache: dict[Hashable, tuple[Any, InvalidInput | None]] = {}
    out = []
    for pos, key in zip(rows, keys, strict=True):
        if key not in cache:
            try:
                cache[key] = fn(*key), None
            except InvalidInput as exc:
                cache[key] = None, exc
        value, exc = cache[key]
        if exc is not None:
            problems.add_invalid(pos, exc)
        out.append(value)
    return out


def _duplicates_reference(keys: Sequence[Hashable | None], problems: Problems) -> None:
    first: dict[Hashable, int] = {}
    for pos, key in enumerate(keys):
        if key is None:
            continue
        if key in first:
            other = problems.where(first[key])
            problems.add(
                pos,
                "name",
                f"duplicate key: the same as {other}",
                f"键重复：与{problems.where_zh(first[key])}相同",
            )
        else:
            first[key] = pos


def _by_unique_reference(
    values: pd.Series, convert: Callable[[Any], Any]
) -> tuple[np.ndarray, dict[int, tuple[str, str]]]:
    codes, uniques = pd.factorize(values, use_na_sentinel=True)
    converted = np.empty(len(uniques) + 1, dtype=object)
    converted[-1] = None
    failed: dict[int, tuple[str, str]] = {}
    for i, raw in enumerate(uniques):
        if isinstance(raw, str) and not raw.strip():
            converted[i] = None
            continue
        value, error = convert(raw)
        converted[i] = value
        if error is not None:
            failed[i] = error
    out = converted[codes]
    errors: dict[int, tuple[str, str]] = {}
    for code, error in failed.items():
        for pos in np.flatnonzero(codes == code):
            errors[int(pos)] = error
    return out, errors


# --- values as registers hold them --------------------------------------------------------------------

texts = st.sampled_from(
    [
        "",
        " ",
        "a",
        " a ",
        "A",
        "风险点",
        " 风险点\t",
        "Café",
        "Cafe\u0301",
        "'=1+1",
        "'abc",
        "x" * 12,
        "１２",
        "\u3000",
    ]
) | st.text(max_size=8)
scalars = st.one_of(
    st.none(),
    texts,
    st.integers(-3, 3),
    st.sampled_from([1.0, 0.0, -0.0, 2.5, 1e300, True, False]),
    st.dates(dt.date(2024, 1, 1), dt.date(2024, 1, 5)),
)
cells = st.one_of(scalars, st.tuples(texts, texts), st.tuples(texts))


def _fn(*values: Any) -> str:
    """Fails for some values (by their text), else returns the values with their types."""
    shown = repr(values)
    if len(shown) % 3 == 0:
        raise InvalidInput.one("f", f"bad {shown}", f"错误 {shown}")
    return f"{shown}:{[type(v).__name__ for v in values]}"


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(cells, cells), max_size=40), st.sets(st.integers(0, 39)))
def test_per_distinct_is_the_memo(pairs: list[tuple[Any, Any]], skipped: set[int]) -> None:
    rows = np.array([i for i in range(len(pairs)) if i not in skipped], dtype=np.int64)
    columns = [_objects([p[0] for p in pairs]), _objects([p[1] for p in pairs])]
    labels = np.arange(len(pairs))
    got, want = Problems(labels, "row"), Problems(labels, "row")
    values = per_distinct(rows, columns, _fn, got)
    expected = _memo_reference(rows.tolist(), [pairs[i] for i in rows], _fn, want)
    assert list(values) == expected
    assert got.items == want.items


@settings(max_examples=300, deadline=None)
@given(st.lists(st.one_of(st.none(), st.tuples(scalars, scalars), scalars), max_size=40))
def test_duplicates_name_the_first_row(keys: list[Any]) -> None:
    labels = np.arange(2, len(keys) + 2)
    got, want = Problems(labels, "row"), Problems(labels, "row")
    duplicates(keys, got, "name", "key", "键")
    _duplicates_reference(keys, want)
    assert got.items == want.items


@settings(max_examples=300, deadline=None)
@given(st.lists(st.one_of(st.none(), texts, st.integers(-3, 3), st.floats(allow_nan=True)), max_size=40))
def test_text_cells_convert_as_one_by_one(raw: list[Any]) -> None:
    for limit in (None, 0, 1, 3, 200):
        convert = _TextConverter(limit)
        assert convert.many(raw) == [_coerce_text(v, limit) for v in raw]
        values, errors = _by_unique(pd.Series(raw, dtype=object), convert)
        expected, expected_errors = _by_unique_reference(pd.Series(raw, dtype=object), convert)
        assert list(values) == list(expected)
        assert list(errors.items()) == list(expected_errors.items())  # same order too
