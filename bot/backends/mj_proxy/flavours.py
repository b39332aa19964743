"""midjourney-proxy's flavours (plus, C#, open-source): their names, what each offers, and the
account option that picks one."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Generic, Literal, Protocol, TypeVar, get_args

from bot.backends.base import AccountOption, Capability

Flavour = Literal["java", "csharp", "oss"]

#: How a member knows each flavour.
FLAVOUR_NAMES: dict[Flavour, str] = {"java": "plus", "csharp": "C#", "oss": "open-source"}

_EVERY_FLAVOUR = frozenset(
    {Capability.BLEND, Capability.DESCRIBE, Capability.FETCH_MANY, Capability.SERVICE_STATUS}
)
_PLUS = _EVERY_FLAVOUR | {Capability.MODAL, Capability.SHORTEN, Capability.REMIX, Capability.NIJI}
#: What each flavour offers (docs/backends/midjourney-proxy.md): the open-source proxy has no
#: /submit/action, /submit/modal, /submit/shorten nor ``botType``; only C# cancels and tells seeds.
FLAVOUR_CAPABILITIES: dict[Flavour, frozenset[Capability]] = {
    "java": _PLUS,
    "csharp": _PLUS | {Capability.CANCEL, Capability.SEED},
    "oss": _EVERY_FLAVOUR,
}

_V = TypeVar("_V")


class _Flavoured(Protocol):
    """A client that knows its flavour (``MjProxyBackend``; named so, not imported: no circle)."""

    @property
    def flavour(self) -> Flavour: ...


class ByFlavour(Generic[_V]):
    """A class attribute whose value on an instance depends on its flavour: ``every`` read on the
    class (what the registry lists for the kind), ``by[flavour]`` on an account's client."""

    def __init__(self, every: _V, by: Mapping[Flavour, _V]) -> None:
        self._every, self._by = every, by

    def __get__(self, client: _Flavoured | None, owner: object = None) -> _V:
        return self._every if client is None else self._by[client.flavour]


#: The account options this backend reads (see :func:`bot.backends.check_options`).
OPTIONS = {"flavour": AccountOption(re.compile("|".join(get_args(Flavour))), "|".join(get_args(Flavour)))}
