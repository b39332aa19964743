"""TheNextLeg's wire shapes: the requests it takes, the answers and messages it sends, and how a
Custom Zoom prompt splits into the button's fields."""

from __future__ import annotations

import re
from typing import Any

from pydantic import Field

from bot.backends._wire import CamelWire, null_is_default
from bot.domain import BackendError, ErrorKind
from bot.i18n import tr


class _Wire(CamelWire):
    _null_is_empty = null_is_default("buttons", "image_urls")


class ImagineRequest(_Wire):
    msg: str
    ref: str = ""
    webhook_override: str | None = None


class ButtonRequest(_Wire):
    button: str
    button_message_id: str
    ref: str = ""
    webhook_override: str | None = None


class ZoomButtonRequest(ButtonRequest):
    prompt: str
    zoom: float
    ar: str | None = None


class DescribeRequest(_Wire):
    url: str
    ref: str = ""
    webhook_override: str | None = None


class BlendRequest(_Wire):
    urls: list[str]
    ref: str = ""
    webhook_override: str | None = None


class SeedRequest(_Wire):
    message_id: str


class SeedAnswer(_Wire):
    seed: str | int


class SettingsToggleRequest(_Wire):
    settings_toggle: str


class SubmitAnswer(_Wire):
    success: bool
    message_id: str | None = None
    #: The prefilter's refusal ("Invalid phrase: '…'") and other failures.
    msg: str = ""
    content: str = ""


class MessagePayload(_Wire):
    """The webhook body, and the finished message of ``GET /message``."""

    buttons: list[str] = Field(default_factory=list)
    image_url: str | None = None
    #: The four grid tiles, split.
    image_urls: list[str] = Field(default_factory=list)
    button_message_id: str | None = None
    originating_message_id: str | None = None
    #: The prompt or a status/error string; a list for describe, an object for info.
    content: str | list[str] | dict[str, Any] | None = None
    #: Documented as a string; some callers send objects, so anything is accepted.
    ref: Any = None
    type: str | None = None

    @property
    def has_image(self) -> bool:
        return bool(self.image_url or self.image_urls)


class MessageProgress(MessagePayload):
    """``GET /message/{id}``: ``progress`` plus the result nested in ``response`` or flat."""

    progress: int | str | None = None
    progress_image_url: str | None = None
    response: MessagePayload | None = None

    def result(self) -> MessagePayload | None:
        if self.response is not None:
            return self.response
        flat = (self.buttons, self.image_url, self.image_urls, self.content, self.originating_message_id)
        return self if any(flat) else None


_ZOOM_FLAG = re.compile(r"\s*--zoom\s+(\S+)", re.IGNORECASE)
_AR_FLAG = re.compile(r"\s*--(?:ar|aspect)\s+(\d+:\d+)", re.IGNORECASE)


def split_zoom(prompt: str) -> tuple[float, str | None, str]:
    """``(zoom, ar, rest)`` of a Custom Zoom prompt; BackendError(INVALID_INPUT) without a zoom of 1–2."""
    zoom_match = _ZOOM_FLAG.search(prompt)
    try:
        zoom = float(zoom_match.group(1)) if zoom_match else 0.0
    except ValueError:
        zoom = 0.0
    if not 1.0 <= zoom <= 2.0:
        raise BackendError(ErrorKind.INVALID_INPUT, tr("Custom Zoom needs a zoom from 1 to 2."))
    ar_match = _AR_FLAG.search(prompt)
    rest = _AR_FLAG.sub("", _ZOOM_FLAG.sub("", prompt)).strip()
    return zoom, ar_match.group(1) if ar_match else None, rest
