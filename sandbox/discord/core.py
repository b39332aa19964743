"""`Core`: what every part of the emulator shares (clock, ids, limits, state, gateway, address).

The REST routes, the message rules and the user driver take a `Core`; `DiscordEmulator` is one
and adds the server and the test API on top, so imports point one way (emulator → parts → core).
"""

from __future__ import annotations

from .clock import Clock, SnowflakeGenerator
from .gateway import Gateway
from .limits import Limits
from .state import Store
from .world import World


class Core:
    def __init__(
        self,
        *,
        world: World | None = None,
        limits: Limits | None = None,
        clock: Clock | None = None,
        token: str = "sandbox-token",
        guilds: int = 1,
        recommended_shards: int = 1,
    ) -> None:
        self.clock = clock or Clock()
        self.ids = SnowflakeGenerator(self.clock)
        self.limits = limits or Limits()
        self.store = Store(world or World.default(self.ids, token=token, guilds=guilds))
        #: What GET /gateway/bot recommends.
        self.recommended_shards = recommended_shards
        self.gateway = Gateway(self.store, resume_url=lambda: self.gateway_url)
        self._address = ""

    @property
    def base_url(self) -> str:
        if not self._address:
            raise RuntimeError("the emulator is not started")
        return f"http://{self._address}"

    @property
    def gateway_url(self) -> str:
        return f"ws://{self._address}/gateway"
