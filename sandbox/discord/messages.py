"""Turning create/edit bodies (+ uploaded files) into stored messages, and announcing the changes."""

from __future__ import annotations

import copy
import io
import mimetypes
from dataclasses import dataclass, fields
from typing import Any

from PIL import Image, UnidentifiedImageError

from . import payloads
from .core import Core
from .errors import DiscordError, Issue, invalid_form_body
from .state import EPHEMERAL, LOADING, Message, StoredAttachment
from .validation import check_message

JSON = dict[str, Any]
# Uploads reference their files[n] part by a small integer id; real attachment ids are snowflakes.
MAX_PLACEHOLDER_ID = 1 << 22
# Flags a bot may set itself (SUPPRESS_EMBEDS, EPHEMERAL, SUPPRESS_NOTIFICATIONS, IS_COMPONENTS_V2).
SETTABLE_FLAGS = (1 << 2) | EPHEMERAL | (1 << 12) | (1 << 15)


@dataclass(frozen=True)
class Upload:
    """One `files[n]` part of a multipart request."""

    index: int
    filename: str
    content_type: str
    data: bytes


def image_size(data: bytes) -> tuple[int, int] | None:
    try:
        with Image.open(io.BytesIO(data)) as image:
            return image.size
    except (UnidentifiedImageError, OSError):
        return None


def make_attachment(
    emu: Core,
    channel_id: int,
    filename: str,
    data: bytes,
    content_type: str | None = None,
    description: str | None = None,
) -> StoredAttachment:
    """An attachment with a new id; `publish` (or the driver) registers it so /attachments/ serves it."""
    guessed = mimetypes.guess_type(filename)[0]
    if content_type in (None, "application/octet-stream") and guessed is not None:
        content_type = guessed
    stored = StoredAttachment(
        emu.ids.next(),
        channel_id,
        filename,
        content_type or "application/octet-stream",
        data,
        description=description,
        issued=emu.clock.now(),
        expires=emu.clock.now() + emu.limits.attachment_url_seconds,
    )
    size = image_size(data) if stored.content_type.startswith("image/") else None
    if size is not None:
        stored.width, stored.height = size
    return stored


def _is_placeholder(raw_id: Any) -> bool:
    return isinstance(raw_id, int) or (
        isinstance(raw_id, str) and raw_id.isdigit() and int(raw_id) < MAX_PLACEHOLDER_ID
    )


def apply_body(emu: Core, original: Message, body: JSON, uploads: list[Upload], *, editing: bool) -> Message:
    """A new version of `original` with `body` applied; raises DiscordError without touching it."""
    issues = check_message(body, emu.limits)
    msg = copy.copy(original)
    if "content" in body:
        msg.content = body["content"] or ""
    if "embeds" in body:
        msg.embeds = body["embeds"] or []
    if "components" in body:
        msg.components = body["components"] or []
    if "tts" in body and not editing:
        msg.tts = bool(body["tts"])
    if body.get("flags") is not None:
        msg.flags = (original.flags & (LOADING | EPHEMERAL)) | (int(body["flags"]) & SETTABLE_FLAGS)
    by_index = {u.index: u for u in uploads}
    used: set[int] = set()
    if "attachments" in body:
        kept: list[StoredAttachment] = []
        for i, entry in enumerate(body["attachments"] or []):
            raw_id = entry.get("id")
            if _is_placeholder(raw_id) and int(raw_id) in by_index:
                used.add(int(raw_id))
                upload = by_index[int(raw_id)]
                kept.append(
                    make_attachment(
                        emu,
                        msg.channel_id,
                        entry.get("filename") or upload.filename,
                        upload.data,
                        upload.content_type,
                        entry.get("description"),
                    )
                )
                continue
            existing = next((a for a in original.attachments if str(a.id) == str(raw_id)), None)
            if existing is None:
                issues.append(
                    Issue(
                        ("attachments", i, "id"),
                        "ATTACHMENT_NOT_FOUND",
                        f"Unknown attachment id {raw_id!r}: no files[{raw_id}] part and not on the message",
                    )
                )
            else:
                kept.append(existing)
        msg.attachments = kept
    # Parts not referenced in `attachments` are still attached (Discord appends them).
    msg.attachments = msg.attachments + [
        make_attachment(emu, msg.channel_id, u.filename, u.data, u.content_type)
        for u in uploads
        if u.index not in used
    ]
    if issues:
        raise invalid_form_body(issues)
    if not (
        msg.content
        or msg.embeds
        or msg.components
        or msg.attachments
        or body.get("sticker_ids")
        or body.get("poll")
        or msg.loading
    ):
        raise DiscordError(400, 50006, "Cannot send an empty message")
    if editing:
        msg.edited_at = emu.clock.now()
    return msg


def message_payload(emu: Core, msg: Message) -> JSON:
    return payloads.message(msg, emu.store.world, emu.base_url, emu.store.interactions)


def commit(target: Message, candidate: Message) -> Message:
    """Copy an accepted edit into the stored object, so every reference to it sees the new state."""
    for f in fields(Message):
        setattr(target, f.name, getattr(candidate, f.name))
    return target


async def publish(emu: Core, msg: Message, *, created: bool) -> JSON:
    """Store `msg`, tell the gateway (never for ephemeral messages) and the event feed."""
    emu.store.messages[msg.id] = msg
    for stored in msg.attachments:
        emu.store.attachments[stored.id] = stored
    body = message_payload(emu, msg)
    if not msg.ephemeral:
        await emu.gateway.dispatch("MESSAGE_CREATE" if created else "MESSAGE_UPDATE", body)
    kind = "ephemeral" if msg.ephemeral else "message"
    emu.store.emit(
        f"{kind}_{'created' if created else 'updated'}", {"message": body, "visible_to": msg.visible_to}
    )
    return body


async def delete(emu: Core, msg: Message) -> None:
    msg.deleted = True
    if not msg.ephemeral:
        await emu.gateway.dispatch(
            "MESSAGE_DELETE",
            {
                "id": str(msg.id),
                "channel_id": str(msg.channel_id),
                "guild_id": str((emu.store.world.guild_of(msg.channel_id) or emu.store.world.guild).id),
            },
        )
    emu.store.emit("message_deleted", {"id": str(msg.id), "channel_id": str(msg.channel_id)})
