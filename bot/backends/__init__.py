"""Backend clients, one package per API, and the registry that builds one for an account.

Adding a backend: write its package (a client implementing :class:`bot.backends.base.Backend`,
with the ``OPTIONS`` it reads) and add it to ``_FACTORIES`` and ``_OPTIONS``. Nothing else changes.
"""

from __future__ import annotations

from collections.abc import Mapping

import httpx

from bot.backends import aimg, mj_proxy, nextleg, useapi
from bot.backends.aimg import AimgBackend
from bot.backends.base import AccountOption, Backend, BackendClass, Capability
from bot.backends.mj_proxy import MjProxyBackend
from bot.backends.nextleg import NextLegBackend
from bot.backends.useapi import UseApiBackend
from bot.domain import Account, BackendKind
from bot.i18n import tr

_FACTORIES: dict[BackendKind, BackendClass] = {
    BackendKind.MJ_PROXY: MjProxyBackend,
    BackendKind.AIMG: AimgBackend,
    BackendKind.NEXTLEG: NextLegBackend,
    BackendKind.USEAPI: UseApiBackend,
}

_OPTIONS: dict[BackendKind, Mapping[str, AccountOption]] = {
    BackendKind.MJ_PROXY: mj_proxy.OPTIONS,
    BackendKind.AIMG: aimg.OPTIONS,
    BackendKind.NEXTLEG: nextleg.OPTIONS,
    BackendKind.USEAPI: useapi.OPTIONS,
}

#: The longest prompt a service takes, where it has a limit below the bot's own.
_PROMPT_LIMITS: dict[BackendKind, int] = {
    BackendKind.USEAPI: useapi.MAX_PROMPT_CHARS,
}


def prompt_limit(kind: BackendKind) -> int | None:
    return _PROMPT_LIMITS.get(kind)


def account_options(kind: BackendKind) -> Mapping[str, AccountOption]:
    """The options an account of ``kind`` may have."""
    return _OPTIONS.get(kind, {})


def check_options(kind: BackendKind, options: Mapping[str, str]) -> None:
    """ValueError (one sentence naming what is allowed) unless every option is one ``kind`` reads,
    with a value of its shape. A value is never repeated: it may be a pasted secret."""
    allowed = account_options(kind)
    shown = ", ".join(f"{key}={rule.example}" for key, rule in allowed.items()) or "none"
    for key, value in options.items():
        rule = allowed.get(key)
        if rule is None:
            raise ValueError(
                tr(
                    "{kind} accounts have no option {key}; the options are: {shown}.",
                    kind=kind.value,
                    key=repr(key),
                    shown=shown,
                )
            )
        if not rule.pattern.fullmatch(value):
            raise ValueError(
                tr(
                    "The {key} option does not look right (e.g. {key}={example}).",
                    key=key,
                    example=rule.example,
                )
            )


def create_backend(account: Account, http: httpx.AsyncClient) -> Backend:
    try:
        factory = _FACTORIES[account.kind]
    except KeyError:
        raise ValueError(f"Backend kind {account.kind.value!r} is not supported yet.") from None
    return factory(account, http)


def registered() -> Mapping[BackendKind, BackendClass]:
    return _FACTORIES


def kinds_with(capability: Capability) -> frozenset[BackendKind]:
    """The backend kinds whose class declares ``capability``."""
    return frozenset(kind for kind, cls in _FACTORIES.items() if capability in cls.capabilities)


def service_name(kind: BackendKind) -> str:
    return _FACTORIES[kind].service
