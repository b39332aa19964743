"""AIMG's one-time-code sign-in, shared by /aimg login and /setup account aimg_login."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import discord

from bot.discord_side.language import member_locale, tell
from bot.domain import BackendError, ErrorKind
from bot.i18n import render, said, tr
from bot.jobs.calls import UserError

if TYPE_CHECKING:
    from bot.discord_side.app import MjBot


#: What a finished sign-in does with the new session id; returns the sentence to show.
SignedIn = Callable[[str], Awaitable[str]]


async def send_sign_in(
    interaction: discord.Interaction[Any], base_url: str, email: str, finish: SignedIn, *, retry: str
) -> None:
    """Start AIMG's sign-in (a fresh session asks for a one-time code by email) and answer the
    deferred ``interaction`` with an "Enter code" button; ``finish`` runs once AIMG accepts it."""
    bot: MjBot = interaction.client
    assert interaction.guild_id is not None
    try:
        session_id = await bot.engine.aimg.start_sign_in(interaction.guild_id, base_url, email)
    except BackendError as exc:
        await tell(interaction, exc.user_message)
        return
    pending = PendingSignIn(interaction.guild_id, base_url, session_id, email)
    locale = member_locale(interaction)
    await tell(
        interaction,
        tr("AIMG sent a one-time code to {email}. Click **Enter code** to finish signing in.", email=email),
        view=OtpView(pending, owner_id=interaction.user.id, finish=finish, retry=retry, locale=locale),
    )


@dataclass(frozen=True)
class PendingSignIn:
    """A session waiting for its one-time code (its id is a credential: never shown)."""

    guild_id: int
    base_url: str
    session_id: str = field(repr=False)
    email: str


class OtpView(discord.ui.View):
    """The "Enter code" button of a pending sign-in (a modal cannot follow a deferred command)."""

    def __init__(
        self, pending: PendingSignIn, *, owner_id: int, finish: SignedIn, retry: str, locale: str
    ) -> None:
        super().__init__(timeout=900)
        self.pending, self.owner_id = pending, owner_id
        self.finish, self.retry = finish, retry
        self.enter.label = render(tr("Enter code"), locale)

    @discord.ui.button(label="Enter code", style=discord.ButtonStyle.primary)
    async def enter(self, interaction: discord.Interaction[Any], button: discord.ui.Button[Any]) -> None:
        await interaction.response.send_modal(OtpModal(self, member_locale(interaction)))


class OtpModal(discord.ui.Modal):
    def __init__(self, sign_in: OtpView, locale: str) -> None:
        super().__init__(title=render(tr("Sign in to AIMG"), locale), timeout=900)
        self.sign_in = sign_in
        self.code: discord.ui.TextInput[Any] = discord.ui.TextInput(
            label=render(tr("One-time code"), locale), min_length=4, max_length=12
        )
        # The answer is checked as YES in every language (the label says so).
        self.adult: discord.ui.TextInput[Any] = discord.ui.TextInput(
            label=render(tr("I am 18 or older (type YES)"), locale), max_length=3
        )
        self.add_item(self.code)
        self.add_item(self.adult)

    async def on_submit(self, interaction: discord.Interaction[Any]) -> None:
        if self.adult.value.strip().lower() != "yes":
            await tell(
                interaction,
                tr(
                    "AIMG is for adults only: the account was not linked. "
                    "Type YES only if you are 18 or older."
                ),
            )
            return
        await interaction.response.defer(ephemeral=True, thinking=True)
        bot: MjBot = interaction.client
        view, pending = self.sign_in, self.sign_in.pending
        try:
            session_id = await bot.engine.aimg.finish_sign_in(
                pending.guild_id, pending.base_url, pending.session_id, pending.email, self.code.value.strip()
            )
            text = await view.finish(session_id)
        except BackendError as exc:
            # A wrong code leaves the code request standing: the member may type it again.
            text = (
                tr("That one-time code is wrong or has expired. Click **Enter code** to type it again.")
                if exc.kind is ErrorKind.INVALID_INPUT
                else tr(
                    "{sentence} Run {command} again for a new code.",
                    sentence=exc.user_message,
                    command=view.retry,
                )
            )
            await tell(interaction, text)
            return
        except UserError as exc:
            await tell(interaction, said(exc))
            return
        view.stop()
        await tell(interaction, text)
