"""Local Discord emulator for end-to-end tests and the sandbox mode (see emulator.py)."""

from .clock import Clock
from .driver import DriverError
from .emulator import DiscordEmulator, point_discord_py_at
from .errors import DiscordError
from .limits import Limits, Rate
from .state import CallRecord, Event, Interaction, Message, Violation
from .world import World

__all__ = [
    "CallRecord",
    "Clock",
    "DiscordEmulator",
    "DiscordError",
    "DriverError",
    "Event",
    "Interaction",
    "Limits",
    "Message",
    "Rate",
    "Violation",
    "World",
    "point_discord_py_at",
]
