"""The AIMG back-end API (docs/backends/aimg.md), one module per concern: the wire shapes
(``models``), how answers become errors (``errors``), parameter checks (``validation``), result
buttons and votes (``items``), status mapping (``status``), the transport, the cache and the client."""

from bot.backends.aimg.client import DEFAULT_REPORT_QUEUE, OPTIONS, AimgBackend
from bot.backends.aimg.errors import error_kind
from bot.backends.aimg.items import Verb, Vote, custom_id, parse_verb, result_buttons, vote_of, vote_verb
from bot.backends.aimg.models import (
    WORKFLOW_FIELDS,
    WORKFLOW_PARAM,
    AimgItem,
    AimgItemDetails,
    AimgModel,
    AimgPage,
    AimgParams,
    AimgPrompt,
    AimgSelfUser,
    AimgSnapshot,
    AimgStatus,
    AimgVideoParams,
    AimgWorkflowParameter,
    AimgWorkflowRequest,
    AimgWorkflowTemplate,
)
from bot.backends.aimg.status import to_snapshot
from bot.backends.aimg.validation import (
    DEFAULT_VIDEO_MODEL,
    default_params,
    request_problems,
    validate_params,
)

__all__ = [
    "DEFAULT_REPORT_QUEUE",
    "DEFAULT_VIDEO_MODEL",
    "OPTIONS",
    "WORKFLOW_FIELDS",
    "WORKFLOW_PARAM",
    "AimgBackend",
    "AimgItem",
    "AimgItemDetails",
    "AimgModel",
    "AimgPage",
    "AimgParams",
    "AimgPrompt",
    "AimgSelfUser",
    "AimgSnapshot",
    "AimgStatus",
    "AimgVideoParams",
    "AimgWorkflowParameter",
    "AimgWorkflowRequest",
    "AimgWorkflowTemplate",
    "Verb",
    "Vote",
    "custom_id",
    "default_params",
    "error_kind",
    "parse_verb",
    "request_problems",
    "result_buttons",
    "to_snapshot",
    "validate_params",
    "vote_of",
    "vote_verb",
]
