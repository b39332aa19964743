"""Load benchmark of the bot against the sandbox (see docs/performance.md)."""
