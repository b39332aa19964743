"""/aimg creations: a page of the library, Previous / Next."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import discord

from bot.backends.aimg import (
    AimgItem,
    AimgItemDetails,
)
from bot.discord_side.language import tell
from bot.domain import MEMBER_SOURCE, Account, BackendError
from bot.i18n import render, said, tr
from bot.jobs.aimg_items import Creations
from bot.jobs.calls import UserError

if TYPE_CHECKING:
    from bot.discord_side.app import MjBot

#: Items per /aimg creations page.
PAGE_SIZE = 10


def sentence_of(exc: BackendError | UserError) -> str:
    return exc.user_message if isinstance(exc, BackendError) else said(exc)


def _creation_card(number: int, item: AimgItem, info: AimgItemDetails | None, locale: str) -> discord.Embed:
    """One creation: its model as the title (linking the file), its prompt, its votes, and the
    image as a thumbnail (a video has no still to show here). ``info`` None: details unreadable."""
    title = f"{number}. {info.model_name or info.model_id}" if info else f"{number}. {item.mtype}"
    prompt = discord.utils.escape_markdown(info.prompt)[:300] if info and info.prompt else "-"
    card = discord.Embed(title=title[:256], url=item.url or None, description=prompt)
    if item.mtype == "image" and item.url:
        card.set_thumbnail(url=item.url)
    when = f" · <t:{item.completed_date // 1000}:R>" if item.completed_date else ""
    card.add_field(
        name=render(tr("Votes"), locale), value=f"👍 {item.like_count} 👎 {item.dislike_count}{when}"
    )
    return card


class CreationsView(discord.ui.View):
    """Previous / Next through getMyCreations; the service pages by an opaque index, so the
    indexes of the pages seen so far are kept to go back."""

    def __init__(self, bot: MjBot, account: Account, locale: str) -> None:
        super().__init__(timeout=900)
        self.bot, self.account, self.locale = bot, account, locale
        self.previous.label = render(tr("Previous"), locale)
        self.next.label = render(tr("Next"), locale)
        #: The index of each page seen, the first being None; the last is the page shown.
        self.indexes: list[str | None] = [None]
        self.shown: Creations | None = None

    async def load(self) -> tuple[str, list[discord.Embed]]:
        """Fetch the page ``indexes[-1]``; the message's text and one card per item (prompt,
        model, thumbnail: getMyCreations has no prompt or model, getItemDetails has)."""
        shown = await self.bot.engine.aimg.creations(self.account, self.indexes[-1], PAGE_SIZE)
        self.shown, page = shown, shown.page
        self.previous.disabled = len(self.indexes) == 1
        self.next.disabled = page.next_pagination_index is None
        if not page.items:
            return render(tr("No creations yet: generate something with /aimg generate."), self.locale), []
        first = (len(self.indexes) - 1) * PAGE_SIZE
        whose = (
            tr("your own account") if self.account.source == MEMBER_SOURCE else tr("this server's account")
        )
        low, high = first + 1, first + len(page.items)
        content = (
            tr("**AIMG creations of {whose}** ({low}-{high})", whose=whose, low=low, high=high)
            if page.total_count is None
            else tr(
                "**AIMG creations of {whose}** ({low}-{high} of {total})",
                whose=whose,
                low=low,
                high=high,
                total=page.total_count,
            )
        )
        cards = [
            _creation_card(first + n, item, info, self.locale)
            for n, (item, info) in enumerate(zip(page.items, shown.details, strict=True), start=1)
        ]
        return render(content, self.locale), cards

    async def _turn(self, interaction: discord.Interaction[Any]) -> None:
        await interaction.response.defer()
        try:
            content, embeds = await self.load()
        except (BackendError, UserError) as exc:
            await tell(interaction, sentence_of(exc))
            return
        await interaction.edit_original_response(content=content, embeds=embeds, view=self)

    @discord.ui.button(label="Previous", style=discord.ButtonStyle.secondary)
    async def previous(self, interaction: discord.Interaction[Any], button: discord.ui.Button[Any]) -> None:
        if len(self.indexes) > 1:
            self.indexes.pop()
        await self._turn(interaction)

    @discord.ui.button(label="Next", style=discord.ButtonStyle.secondary)
    async def next(self, interaction: discord.Interaction[Any], button: discord.ui.Button[Any]) -> None:
        following = self.shown.page.next_pagination_index if self.shown is not None else None
        if following is not None:
            self.indexes.append(following)
        await self._turn(interaction)
