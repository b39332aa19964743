"""Every number the emulator enforces, in one dataclass so that a test can tighten any of them."""

from __future__ import annotations

from dataclasses import dataclass, field

MIB = 1024 * 1024


@dataclass(frozen=True)
class Rate:
    """`limit` requests per `per` seconds (a fixed window, as Discord's buckets behave)."""

    limit: int
    per: float


@dataclass
class Limits:
    # Interactions
    interaction_ack_seconds: float = 3.0
    interaction_token_seconds: float = 15 * 60
    # How long an attachment's signed URL works (Discord: about a day)
    attachment_url_seconds: float = 24 * 3600
    # Messages
    content: int = 2000
    embeds: int = 10
    embed_title: int = 256
    embed_description: int = 4096
    embed_fields: int = 25
    embed_field_name: int = 256
    embed_field_value: int = 1024
    embed_footer: int = 2048
    embed_author: int = 256
    embed_total: int = 6000
    # Components
    action_rows: int = 5
    buttons_per_row: int = 5
    custom_id: int = 100
    button_label: int = 80
    button_url: int = 512
    select_options: int = 25
    select_placeholder: int = 150
    select_option_text: int = 100
    components_v2_total: int = 40
    # Modals
    modal_title: int = 45
    modal_components: int = 5
    text_input_length: int = 4000
    text_input_placeholder: int = 100
    label: int = 45
    label_description: int = 100
    # Files
    attachment_size_limit: int = 10 * MIB
    request_size: int = 25 * MIB
    # Application commands
    commands_per_scope: int = 100
    command_options: int = 25
    command_choices: int = 25
    # Rate limits. The global bucket skips /interactions and /webhooks routes, as on Discord.
    global_rate: Rate = field(default_factory=lambda: Rate(50, 1.0))
    default_route_rate: Rate = field(default_factory=lambda: Rate(50, 1.0))
    # Per-route overrides keyed "METHOD /route/{template}", e.g. "POST /channels/{channel_id}/messages".
    route_rates: dict[str, Rate] = field(default_factory=dict)
    # Discord's hidden per-channel edit limit (PATCH /channels/{channel_id}/messages/{message_id}).
    channel_edit_rate: Rate = field(default_factory=lambda: Rate(5, 5.0))
