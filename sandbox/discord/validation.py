"""Discord's documented limits that its OpenAPI schema does not express (or expresses more loosely).

Each check returns `Issue`s; the caller turns them into one 400 / 50035 answer like Discord does.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import re2

from .errors import Issue
from .limits import Limits

JSON = dict[str, Any]
Path = tuple[str | int, ...]

COMPONENTS_V2_FLAG = 1 << 15
ACTION_ROW, BUTTON, STRING_SELECT, TEXT_INPUT = 1, 2, 3, 4
SELECT_TYPES = {3, 5, 6, 7, 8}
TEXT_DISPLAY, LABEL = 10, 18
LINK_STYLE, PREMIUM_STYLE = 5, 6
# Chat-input command and option names, localized ones too: Discord's rule
# ^[-_\p{L}\p{N}\p{sc=Deva}\p{sc=Thai}]{1,32}$, in lowercase where the letters have a lowercase.
# (The length is counted apart: RE2's DFA runs out of memory on {1,32} of so large a class.)
COMMAND_NAME = re2.compile(r"^[-_\p{L}\p{N}\p{Devanagari}\p{Thai}]+$")
#: The locales Discord takes as keys of ``name_localizations`` and ``description_localizations``.
LOCALES = frozenset(
    "ar bg cs da de el en-GB en-US es-419 es-ES fi fr he hi hr hu id it ja ko lt nl no pl pt-BR ro "  # noqa: SIM905
    "ru sv-SE th tr uk vi zh-CN zh-TW".split()
)


def too_long(path: Path, limit: int) -> Issue:
    return Issue(path, "BASE_TYPE_MAX_LENGTH", f"Must be {limit} or fewer in length.")


def bad_length(path: Path, low: int, high: int) -> Issue:
    return Issue(path, "BASE_TYPE_BAD_LENGTH", f"Must be between {low} and {high} in length.")


def _text(obj: JSON, key: str) -> str:
    value = obj.get(key)
    return value if isinstance(value, str) else ""


def check_message(payload: JSON, limits: Limits) -> list[Issue]:
    """Content, embeds and components of a message create/edit body (already schema-valid)."""
    issues: list[Issue] = []
    content = _text(payload, "content")
    if len(content) > limits.content:
        issues.append(too_long(("content",), limits.content))
    issues += check_embeds(payload.get("embeds") or [], limits)
    issues += check_components(payload.get("components") or [], int(payload.get("flags") or 0), limits)
    return issues


def check_embeds(embeds: list[JSON], limits: Limits) -> list[Issue]:
    issues: list[Issue] = []
    if len(embeds) > limits.embeds:
        issues.append(
            Issue(("embeds",), "BASE_TYPE_MAX_LENGTH", f"Must be {limits.embeds} or fewer in length.")
        )
    total = 0
    for i, embed in enumerate(embeds):
        checks: list[tuple[Path, str, int]] = [
            (("title",), _text(embed, "title"), limits.embed_title),
            (("description",), _text(embed, "description"), limits.embed_description),
            (("footer", "text"), _text(embed.get("footer") or {}, "text"), limits.embed_footer),
            (("author", "name"), _text(embed.get("author") or {}, "name"), limits.embed_author),
        ]
        fields = embed.get("fields") or []
        if len(fields) > limits.embed_fields:
            issues.append(too_long(("embeds", i, "fields"), limits.embed_fields))
        for j, fld in enumerate(fields):
            checks.append((("fields", j, "name"), _text(fld, "name"), limits.embed_field_name))
            checks.append((("fields", j, "value"), _text(fld, "value"), limits.embed_field_value))
        for path, text, limit in checks:
            total += len(text)
            if len(text) > limit:
                issues.append(too_long(("embeds", i, *path), limit))
    if total > limits.embed_total:
        issues.append(
            Issue(("embeds",), "MAX_EMBED_SIZE_EXCEEDED", "Embed size exceeds maximum size of 6000")
        )
    return issues


def walk_components(components: list[JSON], path: Path = ("components",)) -> Iterator[tuple[Path, JSON]]:
    """Every component at any depth (rows, sections, containers, labels), with its body path."""
    for i, comp in enumerate(components):
        here = (*path, i)
        yield here, comp
        yield from walk_components(comp.get("components") or [], (*here, "components"))
        if isinstance(comp.get("component"), dict):
            yield (*here, "component"), comp["component"]
        if isinstance(comp.get("accessory"), dict):
            yield (*here, "accessory"), comp["accessory"]


def check_components(components: list[JSON], flags: int, limits: Limits) -> list[Issue]:
    issues: list[Issue] = []
    if flags & COMPONENTS_V2_FLAG:
        count = sum(1 for _ in walk_components(components))
        if count > limits.components_v2_total:
            issues.append(too_long(("components",), limits.components_v2_total))
    else:
        if len(components) > limits.action_rows:
            issues.append(too_long(("components",), limits.action_rows))
        for i, row in enumerate(components):
            issues += _check_row(row, ("components", i), limits)
    seen: set[str] = set()
    for path, comp in walk_components(components):
        custom_id = comp.get("custom_id")
        if isinstance(custom_id, str):
            if not 1 <= len(custom_id) <= limits.custom_id:
                issues.append(bad_length((*path, "custom_id"), 1, limits.custom_id))
            if custom_id in seen:
                issues.append(
                    Issue(
                        (*path, "custom_id"),
                        "COMPONENT_CUSTOM_ID_DUPLICATED",
                        "Component custom id cannot be duplicated",
                    )
                )
            seen.add(custom_id)
        if comp.get("type") == BUTTON:
            issues += _check_button(comp, path, limits)
        elif comp.get("type") in SELECT_TYPES:
            issues += _check_select(comp, path, limits)
    return issues


def _check_row(row: JSON, path: Path, limits: Limits) -> list[Issue]:
    if row.get("type") != ACTION_ROW:
        return [
            Issue(
                (*path, "type"),
                "UNION_TYPE_CHOICES",
                'Value of field "type" must be one of (1,) without the components V2 flag.',
            )
        ]
    children = row.get("components") or []
    kinds = {c.get("type") for c in children}
    if not children:
        return [Issue((*path, "components"), "BASE_TYPE_MIN_LENGTH", "Must be 1 or more in length.")]
    if kinds & SELECT_TYPES and len(children) != 1:
        return [
            Issue(
                (*path, "components"),
                "COMPONENT_LAYOUT_WIDTH_EXCEEDED",
                "The specified component exceeds the maximum width",
            )
        ]
    if len(children) > limits.buttons_per_row:
        return [
            Issue(
                (*path, "components"),
                "COMPONENT_LAYOUT_WIDTH_EXCEEDED",
                "The specified component exceeds the maximum width",
            )
        ]
    return []


def _check_button(button: JSON, path: Path, limits: Limits) -> list[Issue]:
    issues: list[Issue] = []
    if len(_text(button, "label")) > limits.button_label:
        issues.append(too_long((*path, "label"), limits.button_label))
    style = button.get("style")
    if style == LINK_STYLE:
        if not button.get("url") or "custom_id" in button:
            issues.append(
                Issue(path, "BUTTON_COMPONENT_INVALID_URL", "A link button needs a url and no custom_id")
            )
        elif len(_text(button, "url")) > limits.button_url:
            issues.append(too_long((*path, "url"), limits.button_url))
    elif style == PREMIUM_STYLE:
        if not button.get("sku_id"):
            issues.append(Issue(path, "BUTTON_COMPONENT_SKU_ID_REQUIRED", "A premium button needs a sku_id"))
    elif "custom_id" not in button or "url" in button:
        issues.append(
            Issue(
                path, "BUTTON_COMPONENT_CUSTOM_ID_REQUIRED", "A non-link button needs a custom_id and no url"
            )
        )
    return issues


def _check_select(select: JSON, path: Path, limits: Limits) -> list[Issue]:
    issues: list[Issue] = []
    if len(_text(select, "placeholder")) > limits.select_placeholder:
        issues.append(too_long((*path, "placeholder"), limits.select_placeholder))
    options = select.get("options") or []
    if len(options) > limits.select_options:
        issues.append(too_long((*path, "options"), limits.select_options))
    for j, option in enumerate(options):
        for key in ("label", "value", "description"):
            if len(_text(option, key)) > limits.select_option_text:
                issues.append(too_long((*path, "options", j, key), limits.select_option_text))
    return issues


def check_modal(data: JSON, limits: Limits) -> list[Issue]:
    """Body `data` of a type-9 callback."""
    issues: list[Issue] = []
    if not 1 <= len(_text(data, "title")) <= limits.modal_title:
        issues.append(bad_length(("data", "title"), 1, limits.modal_title))
    if not 1 <= len(_text(data, "custom_id")) <= limits.custom_id:
        issues.append(bad_length(("data", "custom_id"), 1, limits.custom_id))
    components = data.get("components") or []
    if not 1 <= len(components) <= limits.modal_components:
        issues.append(bad_length(("data", "components"), 1, limits.modal_components))
    for path, comp in walk_components(components, ("data", "components")):
        kind = comp.get("type")
        if kind == TEXT_INPUT:
            issues += _check_text_input(comp, path, limits)
        elif kind == LABEL:
            if not 1 <= len(_text(comp, "label")) <= limits.label:
                issues.append(bad_length((*path, "label"), 1, limits.label))
            if len(_text(comp, "description")) > limits.label_description:
                issues.append(too_long((*path, "description"), limits.label_description))
        elif kind in SELECT_TYPES:
            issues += _check_select(comp, path, limits)
        if isinstance(comp.get("custom_id"), str) and not 1 <= len(comp["custom_id"]) <= limits.custom_id:
            issues.append(bad_length((*path, "custom_id"), 1, limits.custom_id))
    return issues


def _check_text_input(text_input: JSON, path: Path, limits: Limits) -> list[Issue]:
    issues: list[Issue] = []
    top = limits.text_input_length
    if len(_text(text_input, "label")) > limits.label:
        issues.append(too_long((*path, "label"), limits.label))
    if len(_text(text_input, "value")) > top:
        issues.append(too_long((*path, "value"), top))
    if len(_text(text_input, "placeholder")) > limits.text_input_placeholder:
        issues.append(too_long((*path, "placeholder"), limits.text_input_placeholder))
    low, high = text_input.get("min_length"), text_input.get("max_length")
    if low is not None and not 0 <= low <= top:
        issues.append(
            Issue((*path, "min_length"), "NUMBER_TYPE_MAX", f"int value should be <= {top} and >= 0.")
        )
    if high is not None and not 1 <= high <= top:
        issues.append(
            Issue((*path, "max_length"), "NUMBER_TYPE_MAX", f"int value should be <= {top} and >= 1.")
        )
    return issues


def check_commands(commands: list[JSON], limits: Limits) -> list[Issue]:
    """Bulk overwrite body: names, descriptions, option counts and uniqueness per command type."""
    issues: list[Issue] = []
    if len(commands) > limits.commands_per_scope:
        issues.append(too_long((), limits.commands_per_scope))
    seen: set[tuple[int, str]] = set()
    for i, command in enumerate(commands):
        kind = int(command.get("type") or 1)
        name = _text(command, "name")
        if (kind, name) in seen:
            issues.append(
                Issue(
                    (i, "name"),
                    "APPLICATION_COMMANDS_DUPLICATE_NAME",
                    f"Application command names must be unique: {name}",
                )
            )
        seen.add((kind, name))
        if kind == 1:
            issues += _check_named((i,), command, limits)
        elif not 1 <= len(name) <= 32:
            issues.append(bad_length((i, "name"), 1, 32))
    return issues


def _check_named(path: Path, obj: JSON, limits: Limits) -> list[Issue]:
    """A chat-input command or option: name, description, choices and nested options, each in
    every language it is localized to."""
    issues = name_issues((*path, "name"), _text(obj, "name"))
    if not 1 <= len(_text(obj, "description")) <= 100:
        issues.append(bad_length((*path, "description"), 1, 100))
    names = obj.get("name_localizations") or {}
    for locale, name in names.items():
        issues += name_issues((*path, "name_localizations", locale), name)
    issues += _check_locales((*path, "name_localizations"), names)
    issues += _check_locales((*path, "description_localizations"), obj.get("description_localizations") or {})
    for k, choice in enumerate(obj.get("choices") or []):
        issues += _check_locales(
            (*path, "choices", k, "name_localizations"), choice.get("name_localizations") or {}
        )
    choices = obj.get("choices") or []
    if len(choices) > limits.command_choices:
        issues.append(too_long((*path, "choices"), limits.command_choices))
    options = obj.get("options") or []
    if len(options) > limits.command_options:
        issues.append(too_long((*path, "options"), limits.command_options))
    for locale in {None, *(k for o in options for k in o.get("name_localizations") or {})}:
        # What a member with this client language sees: the localized name, else the default.
        shown = [
            ((o.get("name_localizations") or {}).get(locale) if locale else None) or _text(o, "name")
            for o in options
        ]
        if len(set(shown)) != len(shown):
            issues.append(
                Issue(
                    (*path, "options"),
                    "APPLICATION_COMMAND_OPTIONS_NAME_ALREADY_EXISTS",
                    "Option names must be unique",
                )
            )
            break
    for j, option in enumerate(options):
        issues += _check_named((*path, "options", j), option, limits)
    return issues


def name_issues(path: Path, name: str) -> list[Issue]:
    if len(name) <= 32 and COMMAND_NAME.match(name) and name == name.lower():
        return []
    return [
        Issue(
            path,
            "APPLICATION_COMMAND_INVALID_NAME",
            f"Command name is invalid: {name!r} (1-32 lowercase characters)",
        )
    ]


def _check_locales(path: Path, localized: JSON) -> list[Issue]:
    return [
        Issue((*path, key), "LOCALE_INVALID", f"Invalid locale: {key!r}")
        for key in localized
        if key not in LOCALES
    ]
