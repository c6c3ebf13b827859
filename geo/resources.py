"""Find and read the reference tables in data/ (shipped inside the wheel as geo/_data)."""

from __future__ import annotations

import csv
import os
from functools import cache
from pathlib import Path


def data_dir() -> Path:
    """The folder holding the reference CSVs: $RISKMAP_DATA_DIR, the wheel's copy, or the checkout's."""
    env = os.environ.get("RISKMAP_DATA_DIR")
    if env:
        return Path(env)
    here = Path(__file__).resolve().parent
    packaged = here / "_data"
    return packaged if packaged.is_dir() else here.parent / "data"


@cache
def read_table(name: str) -> tuple[dict[str, str], ...]:
    """Rows of data/<name> as dicts of strings, in file order; cached for the process."""
    with (data_dir() / name).open(encoding="utf-8", newline="") as f:
        return tuple(dict(row) for row in csv.DictReader(f))
