"""The end-to-end fixtures (the bot in process against the emulator and the fake proxy)."""

from tests.e2e.conftest import make_sandbox, sandbox

__all__ = ["make_sandbox", "sandbox"]
