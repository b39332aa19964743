"""Backend calls alone: whatever a client raises comes out as one BackendError a member can read
(its text never logged), and a capability is used only where its backend declares it."""

from __future__ import annotations

import logging

import pytest

from bot.backends.base import Capability, SupportsBlend, SupportsSettings
from bot.domain import BackendError, ErrorKind
from bot.jobs.accounts import AccountPool
from bot.jobs.calls import UserError, capable, guarded
from bot.store import Store
from tests.jobs.conftest import add_account


async def _raises() -> None:
    raise KeyError("secret-in-the-text")


async def test_anything_a_call_raises_is_one_readable_error(
    store: Store, pool: AccountPool, caplog: pytest.LogCaptureFixture
) -> None:
    backend = pool.backend(await add_account(store, pool, "proxy"))
    with caplog.at_level(logging.ERROR), pytest.raises(BackendError) as raised:
        await guarded(backend, 7, "submit", _raises())
    assert raised.value.kind is ErrorKind.UNEXPECTED
    assert raised.value.detail == "midjourney-proxy (plus) gave an answer the bot could not use (KeyError)."
    [line] = [r.getMessage() for r in caplog.records if r.name == "bot.jobs.calls"]
    assert line.startswith("job 7: MjProxyBackend.submit raised KeyError at ")
    assert "secret-in-the-text" not in caplog.text


async def test_a_capability_is_used_only_where_it_is_declared(store: Store, pool: AccountPool) -> None:
    proxy = pool.backend(await add_account(store, pool, "proxy"))
    assert capable(proxy, Capability.BLEND, SupportsBlend) is proxy
    with pytest.raises(BackendError, match=r"midjourney-proxy \(plus\) can.t keep Midjourney settings"):
        capable(proxy, Capability.SETTINGS, SupportsSettings)
    with pytest.raises(UserError, match=r"midjourney-proxy \(plus\) can.t keep Midjourney settings"):
        capable(proxy, Capability.SETTINGS, SupportsSettings, for_member=True)
