"""Every capability a registered backend declares is implemented with the protocol's exact
signature: the engine calls a declared capability through its protocol, unchecked at run time."""

from __future__ import annotations

import inspect
import typing
from collections.abc import Callable, Sequence
from typing import Any, ClassVar

import httpx
import pytest

from bot.backends import registered
from bot.backends.base import PROTOCOLS, Capability
from bot.backends.mj_proxy import FLAVOUR_NAMES, MjProxyBackend
from bot.backends.useapi import BlendDimensions
from bot.domain import Account, BackendKind, SubmitResult


def _methods(protocol: type) -> list[str]:
    return [
        name
        for name, value in vars(protocol).items()
        if inspect.isfunction(value) and not name.startswith("_")
    ]


def _shape(function: Callable[..., Any]) -> tuple[list[tuple[str, Any, Any]], dict[str, Any], bool]:
    """Parameters (name, kind, default), resolved annotations, and whether it is a coroutine."""
    signature = inspect.signature(function)
    params = [(p.name, p.kind, p.default) for p in signature.parameters.values()]
    return params, typing.get_type_hints(function), inspect.iscoroutinefunction(function)


def mismatches(cls: type, capabilities: frozenset[Capability]) -> list[str]:
    """The declared capabilities' methods that ``cls`` lacks or defines differently."""
    found = []
    for capability in sorted(capabilities):
        for name in _methods(PROTOCOLS[capability]):
            method = getattr(cls, name, None)
            if method is None:
                found.append(f"{cls.__name__}.{name}: missing")
            elif _shape(method) != _shape(getattr(PROTOCOLS[capability], name)):
                found.append(f"{cls.__name__}.{name}: {inspect.signature(method)}")
    return found


def test_every_capability_has_a_protocol() -> None:
    assert set(PROTOCOLS) == set(Capability)
    assert all(_methods(protocol) for protocol in PROTOCOLS.values())


@pytest.mark.parametrize("kind", list(BackendKind))
def test_declared_capabilities_match_their_protocols(kind: BackendKind) -> None:
    cls = registered()[kind]
    assert isinstance(cls, type)
    assert mismatches(cls, cls.capabilities) == []


class _UrlBlender:
    """useapi.net's blend: URLs where the protocol passes image bytes."""

    capabilities: ClassVar[frozenset[Capability]] = frozenset({Capability.BLEND})

    async def blend(
        self,
        urls: Sequence[str],
        dimensions: BlendDimensions | None = None,
        *,
        hook_url: str | None = None,
        state: str = "",
    ) -> SubmitResult:
        raise NotImplementedError


def test_a_method_of_the_right_name_but_another_signature_is_caught() -> None:
    assert mismatches(_UrlBlender, _UrlBlender.capabilities) == [
        "_UrlBlender.blend: (self, urls: 'Sequence[str]', dimensions: 'BlendDimensions | None' = None, "
        "*, hook_url: 'str | None' = None, state: 'str' = '') -> 'SubmitResult'"
    ]
    assert mismatches(_UrlBlender, frozenset({Capability.CANCEL})) == ["_UrlBlender.cancel: missing"]


@pytest.mark.parametrize(
    ("flavour", "lacks"),
    [
        ("java", {Capability.CANCEL, Capability.SEED}),
        ("csharp", set()),
        (
            "oss",
            {
                Capability.MODAL,
                Capability.SHORTEN,
                Capability.REMIX,
                Capability.CANCEL,
                Capability.SEED,
                Capability.NIJI,
            },
        ),
    ],
)
async def test_a_proxy_account_offers_what_its_flavour_does(flavour: str, lacks: set[Capability]) -> None:
    account = Account(
        id=1,
        guild_id=1,
        name="p",
        kind=BackendKind.MJ_PROXY,
        base_url="http://p",
        options={"flavour": flavour},
    )
    async with httpx.AsyncClient() as http:
        client = MjProxyBackend(account, http)
    assert client.capabilities == MjProxyBackend.capabilities - lacks
    assert client.service == f"midjourney-proxy ({FLAVOUR_NAMES[flavour]})"
    assert MjProxyBackend.service == "midjourney-proxy"
