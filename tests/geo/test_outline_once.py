"""The national outline (seconds to make) is made once even when the first callers come at once: the first
siting checks of a fresh server each took 20 s when eight of them made it side by side."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest
import shapely

from geo import boundaries


def test_concurrent_first_calls_make_the_outline_once(monkeypatch: pytest.MonkeyPatch) -> None:
    made: list[int] = []

    def slow_land(path: Any) -> Any:
        made.append(1)
        time.sleep(0.2)
        return shapely.box(110, 20, 120, 30)

    monkeypatch.setattr(boundaries, "_boundary_geometry", slow_land)
    boundaries._china_outline.cache_clear()
    try:
        got: list[Any] = []
        threads = [threading.Thread(target=lambda: got.append(boundaries.china_outline())) for _ in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert len(made) == 1
        assert len({id(g) for g in got}) == 1
        assert boundaries.is_in_china(shapely.Point(115, 25))
        assert not boundaries.is_in_china(shapely.Point(100, 25))
    finally:
        boundaries._china_outline.cache_clear()  # the real outline again for the other tests
