"""A generation's parameters checked against the model's (or workflow template's) limits before
anything reaches the API: one sentence per problem, naming what is allowed."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from bot.backends.aimg.models import (
    WORKFLOW_FIELDS,
    AimgModel,
    AimgParams,
    AimgSelfUser,
    AimgVideoParams,
    AimgWorkflowRequest,
    AimgWorkflowTemplate,
    AimgWorkflowTemplateParameter,
)
from bot.domain import BackendError, ErrorKind
from bot.i18n import Msg, tr

#: The default ``modelName`` of generateImage and generateVideo (docs/backends/aimg.md).
DEFAULT_IMAGE_MODEL = "f222"
DEFAULT_VIDEO_MODEL = "model3"
#: generateImage's documented defaults, used when a model's own range allows them.
DEFAULT_STEPS = 20
DEFAULT_CFG_SCALE = 7.0
#: The global cfgscale range generateImage accepts, whatever the model says.
CFG_SCALE_RANGE = (1.0, 12.0)
_M = TypeVar("_M", bound=BaseModel)


def default_params(model: AimgModel, prompt: str, *, negprompt: str | None = None) -> AimgParams:
    """A generateImage request for ``model`` using its defaults (and the API's, kept in range)."""
    width, height = _default_size(model)
    cfg_low, cfg_high = _cfg_range(model)
    return AimgParams(
        prompt=prompt,
        negprompt=negprompt,
        model_name=model.model_id,
        steps=min(max(DEFAULT_STEPS, model.min_steps), model.max_steps),
        width=width,
        height=height,
        sampler=model.default_sampler,
        cfgscale=min(max(DEFAULT_CFG_SCALE, cfg_low), cfg_high),
        restore_faces=model.default_face_fix,
    )


def _default_size(model: AimgModel) -> tuple[int | None, int | None]:
    size = model.default_resolution
    return (size[0], size[1]) if len(size) == 2 else (None, None)


def _cfg_range(model: AimgModel) -> tuple[float, float]:
    return max(CFG_SCALE_RANGE[0], model.min_cfg_scale), min(CFG_SCALE_RANGE[1], model.max_cfg_scale)


def _float(value: Any) -> float | None:
    try:
        return float(value) if value not in (None, "") else None
    except (TypeError, ValueError):
        return None


def listing(values: Sequence[object]) -> str:
    return ", ".join(str(v) for v in values)


def _number(value: float) -> str:
    return f"{value:g}"


def validate_params(model: AimgModel, params: AimgParams, *, user: AimgSelfUser | None = None) -> list[Msg]:
    """Everything in ``params`` that ``model`` (and, when given, the account ``user``) would refuse.

    One sentence per problem, naming what is allowed, for the command to show before it calls the
    API. Fields left at ``None`` are the server's defaults and are not checked.
    """
    name = model.name or model.model_id
    problems: list[Msg] = []
    if not params.prompt.strip():
        problems.append(tr("The prompt is empty."))
    if model.is_video:
        problems.append(tr("{model} makes videos; use the video command for it.", model=name))
    if params.steps is not None and not model.min_steps <= params.steps <= model.max_steps:
        problems.append(
            tr(
                "Steps must be between {low} and {high} for {model} (got {value}).",
                low=model.min_steps,
                high=model.max_steps,
                model=name,
                value=params.steps,
            )
        )
    low, high = _cfg_range(model)
    if params.cfgscale is not None and not low <= params.cfgscale <= high:
        problems.append(
            tr(
                "CFG scale must be between {low} and {high} for {model} (got {value}).",
                low=_number(low),
                high=_number(high),
                model=name,
                value=_number(params.cfgscale),
            )
        )
    if params.width is not None and params.width not in model.allowed_widths:
        problems.append(
            tr(
                "Width {value} is not available for {model}; choose one of {allowed}.",
                value=params.width,
                model=name,
                allowed=listing(model.allowed_widths),
            )
        )
    if params.height is not None and params.height not in model.allowed_heights:
        problems.append(
            tr(
                "Height {value} is not available for {model}; choose one of {allowed}.",
                value=params.height,
                model=name,
                allowed=listing(model.allowed_heights),
            )
        )
    default_width, default_height = _default_size(model)
    width, height = params.width or default_width, params.height or default_height
    if width is not None and height is not None and width * height > model.max_resolution:
        problems.append(
            tr(
                "{width}x{height} is {pixels} pixels; {model} allows at most {most}.",
                width=width,
                height=height,
                pixels=width * height,
                model=name,
                most=model.max_resolution,
            )
        )
    if params.sampler is not None and params.sampler not in model.allowed_samplers:
        problems.append(
            tr(
                "Sampler {value} is not available for {model}; choose one of {allowed}.",
                value=repr(params.sampler),
                model=name,
                allowed=listing(model.allowed_samplers),
            )
        )
    if params.subseed_strength is not None and not 0 <= params.subseed_strength <= 1:
        problems.append(
            tr(
                "Subseed strength must be between 0 and 1 (got {value}).",
                value=_number(params.subseed_strength),
            )
        )
    if (params.subseed_strength or 0) > 0 and not model.supports_variations:
        problems.append(tr("{model} does not support variations (subseed strength must be 0).", model=name))
    if user is not None:
        if user.tier < model.min_tier:
            problems.append(
                tr(
                    "{model} needs PRO tier {tier}; this account is tier {account_tier}.",
                    model=name,
                    tier=model.min_tier,
                    account_tier=user.tier,
                )
            )
        if model.registration_wall and not user.is_authenticated:
            problems.append(
                tr("{model} needs a signed-up account; this account's session is not signed in.", model=name)
            )
    return problems


def build_request(model: AimgModel, params: Mapping[str, str]) -> AimgParams | AimgVideoParams:
    """The request a job's string parameters make: generateVideo's for a video model, else generateImage's.

    Keys are the field names of :class:`AimgParams` (``prompt``, ``negprompt``, ``steps``,
    ``cfgscale``, ``restore_faces``…; empty means unset). Unset image fields take the model's
    defaults, so the request checked before queueing is exactly the one sent.
    BackendError(INVALID_INPUT) when a value does not parse.
    """
    values = {key: value for key, value in params.items() if value != ""}
    if model.is_video:
        return _parsed(AimgVideoParams, {**values, "model_name": model.model_id})
    defaults = default_params(model, values.get("prompt", ""))
    return _parsed(
        AimgParams, {**defaults.model_dump(exclude_none=True), **values, "model_name": model.model_id}
    )


def build_workflow_request(params: Mapping[str, str]) -> AimgWorkflowRequest:
    """The enqueueWorkflow request a workflow job's string parameters make (``WORKFLOW_PARAM``
    names the template; ``prompt``, ``negprompt``, ``seed``, ``steps``, ``cfgscale``, ``width``,
    ``height``, ``batch_size``, ``lora`` and ``lora_strength`` (comma-separated lists) are sent as
    the explicit fields; empty means unset, other keys are ignored).
    BackendError(INVALID_INPUT) when a value does not parse."""
    fields = set(AimgWorkflowRequest.model_fields) - {"parameters"}
    values: dict[str, Any] = {k: v for k, v in params.items() if k in fields and v != ""}
    for key in _LIST_FIELDS & values.keys():
        values[key] = [part.strip() for part in values[key].split(",") if part.strip()]
    return _parsed(AimgWorkflowRequest, values)


#: A workflow job's parameters that are lists, kept comma-separated: LoRA names and strengths.
_LIST_FIELDS = frozenset({"lora", "lora_strength"})


def _parsed(model: type[_M], values: Mapping[str, Any]) -> _M:
    try:
        return model.model_validate(values)
    except ValidationError as exc:
        fields = listing(sorted({str(error["loc"][0]) for error in exc.errors() if error["loc"]}))
        raise BackendError(
            ErrorKind.INVALID_INPUT, tr("Not a valid value for: {fields}.", fields=fields)
        ) from None


def workflow_problems(template: AimgWorkflowTemplate, request: AimgWorkflowRequest) -> list[Msg]:
    """Every field of ``request`` that ``template`` would refuse, one sentence each naming what it
    allows: a field whose parameter the template lacks, a number outside the parameter's limits."""
    problems: list[Msg] = []
    given = request.model_dump(mode="json", by_alias=True, exclude_none=True)
    for field, name in WORKFLOW_FIELDS.items():
        if field not in given:
            continue
        parameter = template.parameter(name)
        if parameter is None:
            problems.append(
                tr(
                    "The {template} workflow has no {name} setting; leave it out.",
                    template=template.name,
                    name=name,
                )
            )
        elif (problem := parameter_problem(parameter, given[field], template.name)) is not None:
            problems.append(problem)
    return problems + _lora_problems(template, request.lora or [], request.lora_strength or [])


def _lora_problems(template: AimgWorkflowTemplate, names: list[str], strengths: list[float]) -> list[Msg]:
    """What ``template`` would refuse in the LoRAs asked: one strength per LoRA, in the same order;
    LoRA number N goes in its ``Lora N`` parameter (one of its choices, when it lists them) and
    its strength in ``Lora N Strength``, within that parameter's limits."""
    problems: list[Msg] = []
    if strengths and len(strengths) != len(names):
        problems.append(
            tr(
                "Give one LoRA strength per LoRA, in the same order ({loras} LoRAs, {strengths} strengths).",
                loras=len(names),
                strengths=len(strengths),
            )
        )
    taken = sum(1 for p in template.parameters if re.fullmatch(r"Lora \d+", p.name))
    if len(names) > taken and taken:
        problems.append(
            tr(
                "The {template} workflow takes at most {most} LoRAs (got {count}).",
                template=template.name,
                most=taken,
                count=len(names),
            )
        )
    elif len(names) > taken:
        problems.append(
            tr(
                "The {template} workflow takes no LoRA (got {count}).",
                template=template.name,
                count=len(names),
            )
        )
    for number, name in enumerate(names[:taken], start=1):
        parameter = template.parameter(f"Lora {number}")
        choices = parameter.dropdown_items if parameter is not None else []
        if choices and name not in choices:
            problems.append(
                tr(
                    "LoRA {name} is not available for the {template} workflow; choose one of {allowed}.",
                    name=repr(name),
                    template=template.name,
                    allowed=listing(choices),
                )
            )
    for number, strength in enumerate(strengths[:taken], start=1):
        parameter = template.parameter(f"Lora {number} Strength")
        if parameter is not None and (problem := parameter_problem(parameter, strength, template.name)):
            problems.append(problem)
    return problems


def request_problems(
    model: AimgModel, params: Mapping[str, str], *, user: AimgSelfUser | None = None
) -> list[Msg]:
    """:func:`validate_params` for a job's string parameters, videos included."""
    request = build_request(model, params)
    if isinstance(request, AimgVideoParams):
        # validate_params sends video models elsewhere; the limits it checks (steps, tier, sign-up)
        # hold for videos too, so check the video's fields against the model as a still one.
        still = model.model_copy(update={"media_type": "StaticImage"})
        return validate_params(still, AimgParams(prompt=request.prompt, steps=request.steps), user=user)
    return validate_params(model, request, user=user)


def parameter_problem(parameter: AimgWorkflowTemplateParameter, value: Any, template: str) -> Msg | None:
    """Why ``value`` is outside a workflow parameter's limits, naming them; None when it fits."""
    low, high, step = _float(parameter.min), _float(parameter.max), _float(parameter.increment)
    number = _float(value)
    if number is None or (low is None and high is None):
        return None
    inside = (low is None or number >= low) and (high is None or number <= high)
    # The increment counts from the minimum (512, 576, 640… for a 64 step from 512).
    on_step = low is None or not step or ((number - low) / step).is_integer()
    if inside and on_step:
        return None
    name, got = parameter.name, _number(number)
    lowest, highest, every = _number(low or 0.0), _number(high or 0.0), _number(step or 0.0)
    if high is None and on_step:  # only the minimum is set (checked above)
        return tr(
            "{name} must be at least {low} for the {template} workflow (got {value}).",
            name=name,
            low=lowest,
            template=template,
            value=got,
        )
    if high is None:
        return tr(
            "{name} must be at least {low} in steps of {step} for the {template} workflow (got {value}).",
            name=name,
            low=lowest,
            step=every,
            template=template,
            value=got,
        )
    if low is None:  # only the maximum: no steps to count from
        return tr(
            "{name} must be at most {high} for the {template} workflow (got {value}).",
            name=name,
            high=highest,
            template=template,
            value=got,
        )
    if on_step:
        return tr(
            "{name} must be between {low} and {high} for the {template} workflow (got {value}).",
            name=name,
            low=lowest,
            high=highest,
            template=template,
            value=got,
        )
    return tr(
        "{name} must be between {low} and {high} in steps of {step} "
        "for the {template} workflow (got {value}).",
        name=name,
        low=lowest,
        high=highest,
        step=every,
        template=template,
        value=got,
    )
