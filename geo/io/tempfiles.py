"""Temporary folders of imports, named so that what a killed process left behind can be found.

A folder is `riskmap-<use>-<pid>-<random>` in the system's temporary directory. It is removed when its
`with` block ends, however it ends (an error, a cancelled request); a process that is killed cannot do
that, so `sweep_stale` (run when the app starts) removes the folders of processes that are gone, and any
riskmap folder older than `max_age_hours` whatever its process.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
import time
from pathlib import Path

PREFIX = "riskmap-"
USES = ("upload", "shp", "gpkg")  # only these are swept: other riskmap-* names are not ours to remove
_NAME = re.compile(r"^riskmap-(?:upload|shp|gpkg)-(\d+)-")
STALE_AFTER_HOURS = 6.0


def temp_folder(use: str) -> tempfile.TemporaryDirectory[str]:
    """A private temporary folder (`use`: upload, shp, gpkg), removed when the block ends."""
    if use not in USES:
        raise ValueError(f"unknown use {use!r}")
    return tempfile.TemporaryDirectory(prefix=f"{PREFIX}{use}-{os.getpid()}-", ignore_cleanup_errors=True)


def _process_gone(pid: int) -> bool:
    if pid == os.getpid():
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except OSError:  # another user's process: it exists
        return False
    return False


def sweep_stale(root: Path | None = None, *, max_age_hours: float = STALE_AFTER_HOURS) -> list[Path]:
    """Remove riskmap temporary folders whose process is gone or that are older than `max_age_hours`;
    returns what was removed. Links and files are left alone."""
    base = Path(root or tempfile.gettempdir())
    removed: list[Path] = []
    cutoff = time.time() - max_age_hours * 3600
    candidates = [p for use in USES for p in base.glob(f"{PREFIX}{use}-*")]
    for path in candidates:
        try:
            if path.is_symlink() or not path.is_dir():
                continue
            match = _NAME.match(path.name)
            if (match and _process_gone(int(match.group(1)))) or path.stat().st_mtime < cutoff:
                shutil.rmtree(path, ignore_errors=True)
                removed.append(path)
        except OSError:
            continue
    return removed
