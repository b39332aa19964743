"""A backend call that raises something other than a BackendError (a client bug, an answer its
models reject) ends its job clearly and frees the account's slot. A test backend, registered in
place of midjourney-proxy's, raises ValueError, KeyError and a pydantic ValidationError from one
method in turn; the account takes one job at a time, so the job after them runs only if the slot
was given back."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

import httpx
import pydantic
import pytest

from bot import backends
from bot.backends.base import Capability
from bot.backends.mj_proxy import MjProxyBackend
from bot.domain import ERROR_SENTENCES, Account, BackendKind, ErrorKind
from sandbox.discord import Message
from sandbox.fake_mj_proxy import FakeMjProxy
from sandbox.runner import Sandbox
from tests.e2e.conftest import Running, custom_id, is_result

#: On SQLite and on PostgreSQL (tests/conftest.py).
pytestmark = pytest.mark.both_stores

UNUSABLE = ERROR_SENTENCES[ErrorKind.UNEXPECTED]


def _validation_error() -> pydantic.ValidationError:
    try:
        pydantic.TypeAdapter(int).validate_python("not a number")
    except pydantic.ValidationError as exc:
        return exc
    raise AssertionError("unreachable")


def _exceptions() -> list[Exception]:
    return [ValueError("odd value"), KeyError("status"), _validation_error()]


def _faulty(
    method: str, raised: list[Exception], capabilities: frozenset[Capability]
) -> type[MjProxyBackend]:
    """A midjourney-proxy client whose ``method`` raises the exceptions of ``raised``, one per
    call, then works."""

    class Faulty(MjProxyBackend):
        def __init__(self, account: Account, http: httpx.AsyncClient) -> None:
            super().__init__(account, http)
            real = getattr(self, method)

            def fault() -> None:
                if raised:
                    raise raised.pop(0)

            async def call_async(*args: Any, **kwargs: Any) -> Any:
                fault()
                return await real(*args, **kwargs)

            def call(*args: Any, **kwargs: Any) -> Any:
                fault()
                return real(*args, **kwargs)

            vars(self)[method] = call_async if inspect.iscoroutinefunction(real) else call

    Faulty.capabilities = capabilities
    return Faulty


def _failed(message: Message) -> bool:
    return "(Failed)" in message.content and UNUSABLE in message.content


async def _count(box: Sandbox, predicate: Callable[[Message], bool], n: int) -> None:
    emu = box.emulator
    art = emu.channel("art").id
    await emu.wait_for(lambda: len([m for m in emu.messages(art) if predicate(m)]) >= n or None, 10)


async def _imagine(box: Sandbox, prompt: str) -> None:
    emu = box.emulator
    await emu.slash(emu.world.member.id, emu.channel("art").id, "imagine", prompt=prompt)


async def _submits_fail(box: Sandbox) -> None:
    for n in range(1, 4):
        await _imagine(box, f"job {n}")
        await _count(box, _failed, n)


async def _buttons_fail(box: Sandbox) -> None:
    emu = box.emulator
    await _imagine(box, "a grid first")
    grid = await emu.wait_for_message(emu.channel("art").id, is_result, timeout=10)
    for n, label in enumerate(("U1", "U2", "U3"), start=1):
        await emu.click(emu.world.member.id, grid.id, custom_id(grid, label))
        await _count(box, _failed, n)


async def _pushes_ignored(box: Sandbox) -> None:
    await _imagine(box, "pushed")
    await _count(box, is_result, 1)
    assert box.proxy.hook_deliveries
    assert all(d.delivered for d in box.proxy.hook_deliveries)  # a body it could not read is no 500


async def _cancels_stop(box: Sandbox) -> None:
    emu = box.emulator
    art = emu.channel("art").id
    for n in range(1, 4):
        box.proxy.faults.stick_next_task()
        await _imagine(box, f"stuck {n}")
        running = await emu.wait_for_message(art, lambda m: "%)" in m.content and bool(m.components), 10)
        await emu.click(emu.world.member.id, running.id, custom_id(running, "Cancel"))
        await _count(box, lambda m: "(Cancelled)" in m.content, n)


PROXY = MjProxyBackend.capabilities
SCENARIOS = {
    "imagine": (PROXY, _submits_fail, False),
    "action": (PROXY, _buttons_fail, False),
    "fetch_many": (PROXY, _submits_fail, True),
    "fetch": (PROXY - {Capability.FETCH_MANY}, _submits_fail, True),
    "parse_push": (PROXY, _pushes_ignored, False),
    "cancel": (PROXY, _cancels_stop, False),
}


@pytest.mark.parametrize("method", list(SCENARIOS))
async def test_any_exception_from_a_backend_call_ends_the_job_and_frees_its_slot(
    make_sandbox: Callable[..., Sandbox],
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    method: str,
) -> None:
    capabilities, scenario, polled = SCENARIOS[method]
    raised = _exceptions()
    monkeypatch.setitem(backends._FACTORIES, BackendKind.MJ_PROXY, _faulty(method, raised, capabilities))
    proxy = FakeMjProxy(step_seconds=0.1, core_size=4)  # room beside cancel's three stuck tasks
    proxy.faults.drop_hooks = polled
    async with Running(make_sandbox(proxy=proxy, max_jobs=1)) as box:
        await scenario(box)
        assert raised == []  # every exception was met, and logged by its type
        logged = [r.getMessage() for r in caplog.records if r.name == "bot.jobs.calls"]
        call = "submit" if method in ("imagine", "action") else method
        for name in ("ValueError", "KeyError", "ValidationError"):
            assert any(f"Faulty.{call} raised {name} at " in line for line in logged)
        # The one-job account is free again: the next job runs to its result.
        results = len([m for m in box.emulator.messages(box.emulator.channel("art").id) if is_result(m)])
        await _imagine(box, "after the faults")
        await _count(box, is_result, results + 1)
        assert box.bot is not None
        assert [j.id for j in await box.bot.store.unfinished_jobs() if not j.status.terminal] == []
        assert box.emulator.violations == []
