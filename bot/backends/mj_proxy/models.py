"""midjourney-proxy's wire shapes: the requests it takes, the answers and tasks it sends, and
how an image travels (a data URL)."""

from __future__ import annotations

import base64
from typing import Any, Literal

from pydantic import Field, field_validator

from bot.backends._wire import CamelWire, null_is_default
from bot.domain import BackendError, Dimensions, ErrorKind
from bot.i18n import tr

ChangeAction = Literal["UPSCALE", "VARIATION", "REROLL"]
#: Which Discord bot a new task goes to (plus and C#; the open-source proxy has no such field).
BotType = Literal["MID_JOURNEY", "NIJI_JOURNEY"]


class _Wire(CamelWire):
    _null_is_default = null_is_default("properties", "buttons")


def _id_to_str(value: Any) -> Any:
    # Task ids are 16-digit numbers; some proxies send them as JSON numbers. Keep them as strings.
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return value


class SubmitRequest(_Wire):
    """Fields every submit endpoint accepts. ``notify_hook`` None: the proxy's global hook, if any."""

    notify_hook: str | None = None
    state: str | None = None


class NewTaskRequest(SubmitRequest):
    """A submit that starts a task of its own; ``bot_type`` None: the proxy's default (Midjourney)."""

    bot_type: BotType | None = None


class ImagineRequest(NewTaskRequest):
    prompt: str
    base64_array: list[str] = Field(default_factory=list)


class ActionRequest(SubmitRequest):
    task_id: str
    custom_id: str
    #: C# only: open the Remix modal (code 21) even when the account would start the task at once.
    enable_remix: bool | None = None


class ChangeRequest(SubmitRequest):
    """Open-source Java's only way to press a grid button. ``index`` 1–4; none for REROLL."""

    task_id: str
    action: ChangeAction
    index: int | None = None


class ModalRequest(_Wire):
    task_id: str
    prompt: str | None = None
    mask_base64: str | None = None


class BlendRequest(NewTaskRequest):
    base64_array: list[str]
    dimensions: Dimensions = "SQUARE"


class DescribeRequest(NewTaskRequest):
    base64: str


class ShortenRequest(NewTaskRequest):
    prompt: str


class ListByConditionRequest(_Wire):
    ids: list[str]


class SubmitResultVO(_Wire):
    code: int
    description: str = ""
    result: str | None = None
    properties: dict[str, Any] = Field(default_factory=dict)

    @field_validator("result", mode="before")
    @classmethod
    def _result_as_str(cls, value: Any) -> Any:
        value = _id_to_str(value)
        # C#'s upload-discord-images puts a list here; no endpoint this client calls does.
        return value if value is None or isinstance(value, str) else None


class CsharpErrorEnvelope(_Wire):
    """trueai's ``Result`` envelope for business exceptions thrown outside the submit try/catch."""

    success: Literal[False]
    code: int = -1
    message: str = ""


class ButtonVO(_Wire):
    custom_id: str = ""
    emoji: str = ""
    label: str = ""
    type: int = 2
    style: int = 2


class TaskVO(_Wire):
    id: str
    action: str | None = None
    status: str | None = None
    prompt: str | None = None
    prompt_en: str | None = None
    description: str | None = None
    state: str | None = None
    submit_time: int | None = None
    start_time: int | None = None
    finish_time: int | None = None
    progress: str | int | None = None
    image_url: str | None = None
    fail_reason: str | None = None
    properties: dict[str, Any] = Field(default_factory=dict)
    buttons: list[ButtonVO] = Field(default_factory=list)

    @field_validator("id", mode="before")
    @classmethod
    def _id_as_str(cls, value: Any) -> Any:
        return _id_to_str(value)


_IMAGE_SIGNATURES: tuple[tuple[bytes, int, str], ...] = (
    (b"\x89PNG\r\n\x1a\n", 0, "image/png"),
    (b"\xff\xd8\xff", 0, "image/jpeg"),
    (b"GIF87a", 0, "image/gif"),
    (b"GIF89a", 0, "image/gif"),
    (b"WEBP", 8, "image/webp"),
)


def data_url(image: bytes) -> str:
    """``data:<mime>;base64,...`` for an image, its type read from its first bytes."""
    for signature, offset, mime in _IMAGE_SIGNATURES:
        if image[offset : offset + len(signature)] == signature:
            return f"data:{mime};base64,{base64.b64encode(image).decode('ascii')}"
    raise BackendError(ErrorKind.INVALID_INPUT, tr("Unsupported image type (use PNG, JPEG, WebP or GIF)."))
