"""The HTML drift report opened in headless Chromium: the screenshot shows the charts.

Needs Debian's chromium (`make browser-deps`). The test fails when it is missing; it skips only when
SLUICE_SKIP_BROWSER=1 is set explicitly (never in CI).
"""

from __future__ import annotations

import os
import struct
import subprocess
import zlib
from pathlib import Path

import numpy as np
import pytest

from sluice.domain.monitoring.drift import CategoricalColumn, NumericalColumn, check_drift_columns
from sluice.domain.monitoring.drift.report_html import (
    CURRENT_COLOUR,
    HIGHLIGHT_COLOUR,
    REFERENCE_COLOUR,
    render_html,
)

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
WIDTH, HEIGHT = 1200, 1600


def require_chromium() -> None:
    """Fail the test when headless Chromium is missing; skip only when SLUICE_SKIP_BROWSER=1 says so."""
    if not CHROMIUM.exists():
        if os.environ.get("SLUICE_SKIP_BROWSER") == "1":
            pytest.skip("SLUICE_SKIP_BROWSER=1 and no chromium")
        pytest.fail("headless Chromium is missing: run `make browser-deps` (apt-get install chromium)")


def chromium(tmp_path: Path, *arguments: str) -> subprocess.CompletedProcess[bytes]:
    """Headless Chromium run once with `arguments` (e.g. --screenshot=…, --dump-dom, a file URI), with a
    profile of its own under `tmp_path`; the caller checks its return code."""
    return subprocess.run(
        [str(CHROMIUM), *CHROMIUM_FLAGS, f"--user-data-dir={tmp_path / 'profile'}", *arguments],
        capture_output=True,
        timeout=120,
        check=False,
    )


def read_png(data: bytes) -> np.ndarray:
    """Decode an 8-bit RGB or RGBA PNG (what Chromium writes) into a (height, width, channels) array."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    position, compressed = 8, b""
    width = height = channels = 0
    while position < len(data):
        (length,) = struct.unpack(">I", data[position : position + 4])
        kind = data[position + 4 : position + 8]
        body = data[position + 8 : position + 8 + length]
        position += 12 + length
        if kind == b"IHDR":
            width, height, depth, colour_type, _, _, interlace = struct.unpack(">IIBBBBB", body)
            assert depth == 8 and colour_type in (2, 6) and interlace == 0, "unsupported PNG layout"
            channels = 3 if colour_type == 2 else 4
        elif kind == b"IDAT":
            compressed += body
    raw = zlib.decompress(compressed)
    stride = width * channels
    image = np.zeros((height, stride), dtype=np.uint8)
    previous = np.zeros(stride, dtype=np.int64)
    for y in range(height):
        start = y * (stride + 1)
        kind_of_filter = raw[start]
        row = np.frombuffer(raw, dtype=np.uint8, count=stride, offset=start + 1).astype(np.int64)
        if kind_of_filter == 0:
            out = row
        elif kind_of_filter == 1:  # Sub: running sum per channel
            out = np.cumsum(row.reshape(-1, channels), axis=0).reshape(-1) % 256
        elif kind_of_filter == 2:  # Up
            out = (row + previous) % 256
        else:  # Average or Paeth: each byte depends on the one to its left
            out = _unfilter_sequential(kind_of_filter, row.tolist(), previous.tolist(), channels)
        image[y] = out
        previous = np.asarray(out, dtype=np.int64)
    return image.reshape(height, width, channels)


def _unfilter_sequential(kind: int, row: list[int], above: list[int], channels: int) -> np.ndarray:
    out = [0] * len(row)
    for i, value in enumerate(row):
        left = out[i - channels] if i >= channels else 0
        up = above[i]
        if kind == 3:
            out[i] = (value + (left + up) // 2) & 0xFF
        else:
            upper_left = above[i - channels] if i >= channels else 0
            estimate = left + up - upper_left
            distance_left, distance_up = abs(estimate - left), abs(estimate - up)
            distance_corner = abs(estimate - upper_left)
            if distance_left <= distance_up and distance_left <= distance_corner:
                predictor = left
            elif distance_up <= distance_corner:
                predictor = up
            else:
                predictor = upper_left
            out[i] = (value + predictor) & 0xFF
    return np.asarray(out, dtype=np.int64)


def pixels_of(image: np.ndarray, colour: str) -> int:
    rgb = tuple(int(colour[i : i + 2], 16) for i in (1, 3, 5))
    return int(np.all(image[:, :, :3] == rgb, axis=2).sum())


@pytest.mark.browser
def test_report_renders_its_charts_in_headless_chromium(tmp_path: Path) -> None:
    require_chromium()
    # Given a drift report with a shifted numerical column and a categorical one with a new category
    rng = np.random.default_rng(31)
    report = check_drift_columns(
        {
            "income": NumericalColumn(rng.lognormal(10, 0.5, size=5000)),
            "segment": CategoricalColumn.from_labels(rng.choice(["retail", "sme"], size=5000).tolist()),
        },
        {
            "income": NumericalColumn(rng.lognormal(10.4, 0.5, size=4000)),
            "segment": CategoricalColumn.from_labels(
                rng.choice(["retail", "sme", "startup"], size=4000).tolist()
            ),
        },
    )
    page = tmp_path / "drift.html"
    page.write_text(render_html(report), encoding="utf-8")
    screenshot = tmp_path / "drift.png"
    # When headless Chromium opens the file (no network) and takes a screenshot
    completed = chromium(
        tmp_path, f"--screenshot={screenshot}", f"--window-size={WIDTH},{HEIGHT}", page.as_uri()
    )
    assert completed.returncode == 0, completed.stderr.decode(errors="replace")[-2000:]
    image = read_png(screenshot.read_bytes())
    # Then the picture is the window's size, far from blank, and shows bars in each chart colour
    assert image.shape[:2] == (HEIGHT, WIDTH)
    non_white = int(np.any(image[:, :, :3] < 245, axis=2).sum())
    distinct_colours = np.unique(image[:, :, :3].reshape(-1, 3), axis=0).shape[0]
    print(f"\nscreenshot {screenshot}: {non_white} non-white pixels, {distinct_colours} colours")
    assert non_white > 0.03 * WIDTH * HEIGHT
    assert distinct_colours > 50
    assert pixels_of(image, REFERENCE_COLOUR) > 5000
    assert pixels_of(image, CURRENT_COLOUR) > 5000
    assert pixels_of(image, HIGHLIGHT_COLOUR) > 500  # the "startup" bar, absent from the reference
