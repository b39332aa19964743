"""Which language a Discord answer is in (docs/i18n.md), and the slash commands' translations.

A private answer is in the member's language (``interaction.locale``), else the server's
(``guild_locale``), else English; a message the whole channel sees is in the server's.
"""

from __future__ import annotations

from typing import Any

import discord
from discord import app_commands

from bot.i18n import NAME_CONTEXT, pick, render, translate

#: Command and group names stay as they are in every language: they are Midjourney's (/imagine)
#: or the ones every sentence and guide names (/setup account add).
_KEPT = frozenset(
    {app_commands.TranslationContextLocation.command_name, app_commands.TranslationContextLocation.group_name}
)


def member_locale(interaction: discord.Interaction[Any]) -> str:
    """The shipped language the member who made ``interaction`` reads private answers in."""
    return pick(_value(interaction.locale), _value(interaction.guild_locale))


def for_member(interaction: discord.Interaction[Any], text: str) -> str:
    """``text`` as the member who made ``interaction`` reads it (an ephemeral answer)."""
    return render(text, member_locale(interaction))


def channel_locale(interaction: discord.Interaction[Any]) -> str | None:
    """The language everyone in the interaction's channel reads (the server's; None: English)."""
    return _value(interaction.guild_locale)


def for_channel(interaction: discord.Interaction[Any], text: str) -> str:
    """``text`` as everyone in the interaction's channel reads it (the server's language)."""
    return render(text, channel_locale(interaction))


def server_locale(client: discord.Client, guild_id: int | None) -> str | None:
    """The language of a server's channels, as the bot's guild cache has it (its
    ``preferred_locale``, kept by GUILD_CREATE and GUILD_UPDATE); None (English) when not cached."""
    guild = client.get_guild(guild_id) if guild_id else None
    return guild.preferred_locale.value if guild is not None else None


async def tell(interaction: discord.Interaction[Any], text: str, **extra: Any) -> None:
    """Tell only the member ``text``, in their language: the response, or a follow-up once
    responded. Mentions in it ping no one."""
    shown = for_member(interaction, text)
    quiet = discord.AllowedMentions.none()
    if interaction.response.is_done():
        await interaction.followup.send(shown, ephemeral=True, allowed_mentions=quiet, **extra)
    else:
        await interaction.response.send_message(shown, ephemeral=True, allowed_mentions=quiet, **extra)


def _value(locale: discord.Locale | None) -> str | None:
    return locale.value if locale is not None else None


def as_is(name: str) -> app_commands.locale_str:
    """A choice name shown as it is in every language (a service's own name)."""
    return app_commands.locale_str(name, as_is=True)


class CatalogTranslator(app_commands.Translator):
    """Option names (under their own context: Discord's name rules), command, group and option
    descriptions and choice names, from the message catalogs (docs/i18n.md)."""

    async def translate(
        self,
        string: app_commands.locale_str,
        locale: discord.Locale,
        context: app_commands.TranslationContextTypes,
    ) -> str | None:
        if context.location in _KEPT or string.extras.get("as_is"):
            return None
        named = context.location is app_commands.TranslationContextLocation.parameter_name
        return translate(string.message, locale.value, context=NAME_CONTEXT if named else None)
