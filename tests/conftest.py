"""Fixtures every test folder may use: a throwaway PostgreSQL (``postgres_url``)."""

pytest_plugins = ("tests.postgres",)
