"""Fixtures every test folder may use: a throwaway PostgreSQL (``postgres_url``). Under
pytest-xdist, the tests that use the cluster share one worker (so one cluster per run), as do the
browser tests (one Chromium at a time)."""

import pytest

pytest_plugins = ("tests.postgres",)


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "postgres_cluster" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.xdist_group("postgres"))
        elif item.get_closest_marker("browser"):
            item.add_marker(pytest.mark.xdist_group("browser"))
