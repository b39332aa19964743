"""What the browser tests share: the system Chromium Playwright drives, and where screenshots go.

Playwright never downloads a browser here; tests that need one skip, saying why, without it.
"""

from __future__ import annotations

from pathlib import Path

import pytest

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = Path(__file__).resolve().parents[1] / "test-artifacts"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def require_chromium() -> None:
    """Skip the calling test module when Chromium or Playwright is missing."""
    if not CHROMIUM.exists():
        pytest.skip("Chromium not installed: apt-get install chromium", allow_module_level=True)
    try:
        import playwright.async_api  # noqa: F401
    except ImportError:
        pytest.skip("playwright not installed: it is in the dev group (uv sync)", allow_module_level=True)
