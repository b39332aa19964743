"""Fixtures the backend client tests share."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    # Plain http on loopback: verify=False only skips loading the CA bundle (50 ms per client).
    async with httpx.AsyncClient(timeout=5, verify=False) as client:
        yield client
