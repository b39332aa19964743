"""What the engine's parts share about calls a member made. ``UserError`` is the refusal a member
reads."""

from __future__ import annotations


class UserError(Exception):
    """Input refused before any backend call; the message is the sentence the member reads."""
