"""Every message the code uses: `tr()` calls (found with ast) and the slash commands' texts."""

from __future__ import annotations

import ast
import importlib
import inspect
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from discord import app_commands
from discord.ext import commands

from bot.discord_side.app import EXTENSIONS
from bot.i18n import NAME_CONTEXT

ROOT = Path(__file__).resolve().parents[2]
#: The code whose sentences are marked (docs/i18n.md lists the files still in English).
SOURCES = ("bot", "cogs")
#: Cogs whose commands are not translated yet (docs/i18n.md).
PENDING_COGS: frozenset[str] = frozenset()
#: discord.py's description of an option nobody described.
_UNDESCRIBED = "…"

Key = tuple[str | None, str]


@dataclass(frozen=True)
class Use:
    key: Key
    #: The placeholders the code fills; None for a command's text (it has none).
    values: frozenset[str] | None
    where: str


def code_uses() -> Iterator[Use]:
    """Every ``tr("…", name=…)`` call under SOURCES."""
    for root in SOURCES:
        for path in sorted((ROOT / root).rglob("*.py")):
            tree = ast.parse(path.read_text(encoding="utf-8"))
            for node in ast.walk(tree):
                if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "tr":
                    yield _use(node, f"{path.relative_to(ROOT)}:{node.lineno}")


def _use(call: ast.Call, where: str) -> Use:
    first = call.args[0] if len(call.args) == 1 else None
    if not (isinstance(first, ast.Constant) and isinstance(first.value, str)):
        raise AssertionError(f"{where}: tr() takes one literal string (and named values)")
    names = [k.arg for k in call.keywords]
    if None in names:
        raise AssertionError(f"{where}: tr() takes its values by name, not **mapping")
    return Use((None, first.value), frozenset(n for n in names if n is not None), where)


def command_uses() -> Iterator[Use]:
    """The descriptions, option names and choice names of every translated cog's commands."""
    for name in EXTENSIONS:
        if name in PENDING_COGS:
            continue
        module = importlib.import_module(name)
        for _, cls in inspect.getmembers(module, inspect.isclass):
            if issubclass(cls, commands.Cog) and cls.__module__ == name:
                where = f"{name}.{cls.__name__}"
                if cls.__cog_is_app_commands_group__:
                    yield _text(cls.__cog_group_description__, where)
                for command in cls.__cog_app_commands__:
                    yield from _command(command, where)


def _command(command: Any, where: str) -> Iterator[Use]:
    where = f"{where} /{command.qualified_name}"
    yield _text(command.description, where)
    if isinstance(command, app_commands.Group):
        for child in command.commands:
            yield from _command(child, where)
        return
    for param in command.parameters:
        yield Use((NAME_CONTEXT, param.display_name), None, f"{where} {param.display_name}")
        if param.description != _UNDESCRIBED:
            yield _text(param.description, f"{where} {param.display_name}")
        for choice in param.choices:
            if not choice._locale_name or not choice._locale_name.extras.get("as_is"):
                yield _text(choice.name, f"{where} {param.display_name}")


def _text(text: object, where: str) -> Use:
    return Use((None, str(text)), None, where)


def all_uses() -> list[Use]:
    return [*code_uses(), *command_uses()]
