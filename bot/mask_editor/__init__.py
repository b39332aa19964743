"""Vary (Region) drawn in the browser: a signed, one-use link to an editor page the bot serves.

See docs/mask-editor.md for the flow and its security rules.
"""

from bot.mask_editor.links import EditorLink, LinkError, LinkSigner
from bot.mask_editor.server import MaskEditor

__all__ = ["EditorLink", "LinkError", "LinkSigner", "MaskEditor"]
