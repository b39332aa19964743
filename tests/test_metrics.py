"""Discord URLs become route templates: every id and token is replaced by its name."""

from __future__ import annotations

import pytest

from bot.metrics import discord_route

TOKEN = "aW50ZXJhY3Rpb246MTIzNDU2Nzg5MDEyMzQ1Njc4OTpUT0tFTg"


@pytest.mark.parametrize(
    ("method", "path", "route"),
    [
        ("PATCH", "/api/v10/channels/11/messages/22", "PATCH /channels/{channel_id}/messages/{message_id}"),
        ("POST", "/api/v10/channels/11/messages", "POST /channels/{channel_id}/messages"),
        (
            "PATCH",
            f"/api/v10/webhooks/33/{TOKEN}/messages/@original",
            "PATCH /webhooks/{webhook_id}/{webhook_token}/messages/@original",
        ),
        (
            "POST",
            f"/api/v10/interactions/44/{TOKEN}/callback",
            "POST /interactions/{interaction_id}/{interaction_token}/callback",
        ),
        (
            "PUT",
            "/api/v10/applications/55/guilds/66/commands",
            "PUT /applications/{application_id}/guilds/{guild_id}/commands",
        ),
        # A segment the table does not know is never copied: it might be a secret.
        ("GET", f"/api/v10/channels/11/{TOKEN}", "GET /channels/{channel_id}/{param}"),
        ("GET", "/api/v10/users/@me", "GET /users/@me"),
    ],
)
def test_discord_route(method: str, path: str, route: str) -> None:
    assert discord_route(method, path) == route
