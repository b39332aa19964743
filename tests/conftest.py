"""Fixtures every test folder may use: a throwaway PostgreSQL (``postgres_url``, one cluster per
pytest-xdist worker that needs one). Under pytest-xdist the browser tests share one worker (one
Chromium at a time), and the slowest folder goes first, so that its tests (bot processes killed
and restarted, 5–30 s each) do not end the run alone on one worker."""

import pytest

pytest_plugins = ("tests.postgres",)
#: Started first (see above).
SLOWEST = "tests/reliability/"


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if item.get_closest_marker("browser"):
            item.add_marker(pytest.mark.xdist_group("browser"))
    items.sort(key=lambda item: not item.nodeid.startswith(SLOWEST))  # stable: the rest keep their order
