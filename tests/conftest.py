"""Fixtures every test folder may use: a throwaway PostgreSQL (``postgres_url``, one cluster per
pytest-xdist worker that needs one), and the sandbox's store (``store_url``: tests of a module
marked ``both_stores`` run on SQLite and on PostgreSQL). Under pytest-xdist the browser tests
share one worker (one Chromium at a time), and the slowest folder goes first, so that its tests
(bot processes killed and restarted, 5–30 s each) do not end the run alone on one worker."""

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


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Tests of a module marked ``both_stores`` run twice: on SQLite and on PostgreSQL."""
    if "store_url" in metafunc.fixturenames and metafunc.definition.get_closest_marker("both_stores"):
        metafunc.parametrize("store_url", ["sqlite", "postgresql"], indirect=True)


@pytest.fixture
def store_url(request: pytest.FixtureRequest) -> str | None:
    """The sandbox's ``[store] url``: None (its SQLite file) unless the test's postgresql run, which
    gets a new database of the throwaway cluster."""
    if getattr(request, "param", "sqlite") == "postgresql":
        return str(request.getfixturevalue("postgres_url"))
    return None
