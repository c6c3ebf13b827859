"""scripts/screenshots.py (docs/screenshots.sh), the parts that need no demo server: how a picture is stored,
which period the white paper is taken for, and the answer when no server is running."""

from __future__ import annotations

import datetime as dt
import io
import socket
from pathlib import Path

import pytest
from PIL import Image, ImageDraw

from scripts import screenshots


def test_a_picture_is_scaled_to_the_width_and_stored_with_a_palette(tmp_path: Path) -> None:
    image = Image.new("RGB", (2800, 1980), "white")
    draw = ImageDraw.Draw(image)
    for i in range(0, 2800, 40):  # many colours, as a map has
        draw.rectangle([i, 0, i + 39, 1980], fill=(i % 256, (i * 7) % 256, (i * 13) % 256))
    png = io.BytesIO()
    image.save(png, format="PNG")
    out = screenshots._save(png.getvalue(), tmp_path / "a.png")
    with Image.open(out) as stored:
        assert stored.size == (screenshots.MAX_WIDTH, 990)
        assert stored.mode == "P"
        assert len(stored.getcolors(maxcolors=1024) or []) <= screenshots.COLOURS
    assert out.stat().st_size < 300_000


def test_the_white_paper_is_of_last_month() -> None:
    assert screenshots._last_month(dt.date(2026, 12, 4)) == "2026-11"
    assert screenshots._last_month(dt.date(2027, 1, 1)) == "2026-12"


def test_without_a_server_it_says_how_to_start_one(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    assert screenshots.main(["--url", f"http://127.0.0.1:{port}", "--out", str(tmp_path)]) == 2
    assert "riskmap serve" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []


def test_an_unknown_kind_is_refused_by_name() -> None:
    with pytest.raises(SystemExit):
        screenshots.main(["--only", "four-colour,maps"])
