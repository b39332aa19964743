"""The message catalogs against the code: every message used is translated in every shipped
catalog, with the same placeholders, and no catalog entry is left over (docs/i18n.md)."""

from __future__ import annotations

from pathlib import Path

import discord
import pytest
from babel.messages.pofile import read_po

from bot.i18n import LOCALES_DIR, NAME_CONTEXT, catalogs, discord_locale, placeholders
from sandbox.discord.validation import name_issues
from tests.i18n.messages import Key, Use, all_uses

USES = all_uses()
USED: dict[Key, list[Use]] = {}
for use in USES:
    USED.setdefault(use.key, []).append(use)
CATALOG_FILES = sorted(LOCALES_DIR.glob("*.po"))


def test_languages_are_shipped() -> None:
    assert {discord_locale(p.stem) for p in CATALOG_FILES} >= {"zh-CN", "ja"}


@pytest.mark.parametrize("path", CATALOG_FILES, ids=lambda p: p.stem)
def test_catalog_is_a_discord_locale(path: Path) -> None:
    assert discord_locale(path.stem) in {locale.value for locale in discord.Locale}


def test_code_fills_every_placeholder_of_its_messages() -> None:
    wrong = [
        f"{use.where}: {use.key[1]!r} has {sorted(placeholders(use.key[1]))}, given {sorted(use.values)}"
        for use in USES
        if use.values is not None and placeholders(use.key[1]) != use.values
    ]
    assert not wrong, "\n".join(wrong)


@pytest.mark.parametrize("path", CATALOG_FILES, ids=lambda p: p.stem)
def test_every_message_used_is_translated(path: Path) -> None:
    translated = catalogs()[discord_locale(path.stem)]
    missing = [f"{uses[0].where}: {key}" for key, uses in USED.items() if key not in translated]
    assert not missing, f"{len(missing)} messages without a translation in {path.name}:\n" + "\n".join(
        missing
    )


@pytest.mark.parametrize("path", CATALOG_FILES, ids=lambda p: p.stem)
def test_no_entry_is_unused(path: Path) -> None:
    with path.open("rb") as file:
        entries = {(m.context, m.id) for m in read_po(file) if m.id}
    unused = entries - USED.keys()
    assert not unused, f"entries of {path.name} no code uses: {sorted(unused, key=str)}"


@pytest.mark.parametrize("path", CATALOG_FILES, ids=lambda p: p.stem)
def test_translations_keep_the_placeholders(path: Path) -> None:
    translated = catalogs()[discord_locale(path.stem)]
    wrong = [
        f"{msgid!r} → {text!r}"
        for (_, msgid), text in translated.items()
        if placeholders(text) != placeholders(msgid)
    ]
    assert not wrong, "\n".join(wrong)


@pytest.mark.parametrize("path", CATALOG_FILES, ids=lambda p: p.stem)
def test_option_names_follow_discords_name_rules(path: Path) -> None:
    translated = catalogs()[discord_locale(path.stem)]
    wrong = [
        text for (context, _), text in translated.items() if context == NAME_CONTEXT and name_issues((), text)
    ]
    assert not wrong
