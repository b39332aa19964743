"""The JSON models the Midjourney relays (midjourney-proxy, TheNextLeg, useapi.net) share:
camelCase on the wire, snake_case in Python, and how a body becomes a model or a request."""

from __future__ import annotations

from typing import Any, TypeVar

import httpx
from pydantic import BaseModel, ConfigDict, ValidationError, ValidationInfo, field_validator
from pydantic.alias_generators import to_camel

from bot.backends._http import NOT_JSON, try_json
from bot.domain import BackendError, ErrorKind

_M = TypeVar("_M", bound=BaseModel)


class CamelWire(BaseModel):
    """Unknown keys are ignored: the services and their clones add many."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="ignore")


def null_is_default(*fields: str) -> Any:
    """A validator for a :class:`CamelWire` subclass: JSON null in one of ``fields`` (an empty list
    or object, as the services send it) becomes the field's default."""

    def validate(cls: type[BaseModel], value: Any, info: ValidationInfo) -> Any:
        if value is None and info.field_name is not None:
            return cls.model_fields[info.field_name].get_default(call_default_factory=True)
        return value

    return field_validator(*fields, mode="before", check_fields=False)(classmethod(validate))


def dump(body: BaseModel) -> dict[str, Any]:
    """A request body as the service reads it: camelCase, unset (None) fields left out."""
    return body.model_dump(mode="json", by_alias=True, exclude_none=True)


def parse(model: type[_M], body: Any, what: str) -> _M:
    """``body`` (a push or a fetched task) as ``model``; BackendError(INVALID_INPUT) when it does
    not fit, naming ``what`` it should have been."""
    try:
        return model.model_validate(body)
    except ValidationError as exc:
        raise BackendError(
            ErrorKind.INVALID_INPUT, f"Malformed {what} ({exc.error_count()} errors)."
        ) from exc


def json_body(response: httpx.Response, sender: str) -> Any:
    """The decoded body; BackendError(UNAVAILABLE) naming ``sender`` when it is not JSON."""
    data = try_json(response)
    if data is NOT_JSON:
        raise BackendError(ErrorKind.UNAVAILABLE, f"{sender} sent an answer that is not JSON.")
    return data
