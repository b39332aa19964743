"""Backend clients, one module per API, and the registry that builds one for an account.

Adding a backend: write its module (implementing :class:`bot.backends.base.Backend`) and add it to
``_FACTORIES``. Nothing else changes.
"""

from __future__ import annotations

from collections.abc import Mapping

import httpx

from bot.backends.aimg import AimgBackend
from bot.backends.base import Backend, BackendClass, Capability
from bot.backends.mj_proxy import MjProxyBackend
from bot.backends.nextleg import NextLegBackend
from bot.backends.useapi import UseApiBackend
from bot.domain import Account, BackendKind

_FACTORIES: dict[BackendKind, BackendClass] = {
    BackendKind.MJ_PROXY: MjProxyBackend,
    BackendKind.AIMG: AimgBackend,
    BackendKind.NEXTLEG: NextLegBackend,
    BackendKind.USEAPI: UseApiBackend,
}


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
