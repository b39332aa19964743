"""midjourney-proxy (docs/backends/midjourney-proxy.md): the client and what other modules use."""

from bot.backends.mj_proxy.client import (
    CHANGEABLE_ACTIONS,
    FLAVOUR_NAMES,
    OPTIONS,
    ChangeAction,
    Flavour,
    MjProxyBackend,
    describe_message,
    grid_buttons,
    legacy_change,
    parse_progress,
)

__all__ = [
    "CHANGEABLE_ACTIONS",
    "FLAVOUR_NAMES",
    "OPTIONS",
    "ChangeAction",
    "Flavour",
    "MjProxyBackend",
    "describe_message",
    "grid_buttons",
    "legacy_change",
    "parse_progress",
]
