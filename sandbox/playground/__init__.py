"""The sandbox playground: a Discord-like web page on top of the emulator, to try the bot in a browser."""

from .server import Playground

__all__ = ["Playground"]
