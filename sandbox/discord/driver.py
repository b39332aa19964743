"""What a human does in the Discord client: slash commands, clicks, selects, modal submits, typing.

Each method builds the interaction the real client would send, from the state the bot created
(registered commands, message components, opened modals), and refuses what the client would not
let a user do with a `DriverError`.
"""

from __future__ import annotations

import secrets
from typing import Any

from . import payloads
from .core import Core
from .messages import make_attachment, message_payload, publish
from .routes import AUTOCOMPLETE, CHOICES, COMMAND, COMPONENT, MODAL_SUBMIT
from .state import Interaction, Message
from .validation import BUTTON, LABEL, LINK_STYLE, STRING_SELECT, TEXT_DISPLAY, TEXT_INPUT, walk_components

JSON = dict[str, Any]
SUBCOMMAND, GROUP = 1, 2
STRING, INTEGER, BOOLEAN, USER, CHANNEL, ROLE, MENTIONABLE, NUMBER, ATTACHMENT = 3, 4, 5, 6, 7, 8, 9, 10, 11


class DriverError(Exception):
    """The Discord client would not send this (unknown command or option, missing value, disabled button…)."""


class Driver:
    def __init__(self, emu: Core) -> None:
        self._emu = emu

    # --- application commands -------------------------------------------------------------------

    def command(self, name: str, guild_id: int | None = None) -> JSON:
        """The registered chat-input command `name` (in the default guild unless one is named);
        guild commands shadow global ones."""
        store = self._emu.store
        for scope in (guild_id or store.world.guild.id, None):
            for command in store.commands.get(scope, []):
                if command["name"] == name and command.get("type", 1) == 1:
                    return command
        known = sorted(c["name"] for cs in store.commands.values() for c in cs)
        raise DriverError(f"no slash command /{name} is registered (registered: {known})")

    async def slash(
        self, user_id: int, channel_id: int, name: str, /, *, subcommand: str | None = None, **options: Any
    ) -> Interaction:
        data = self._command_data(user_id, channel_id, name, subcommand, options, focused=None)
        return await self._dispatch(COMMAND, user_id, channel_id, data)

    async def autocomplete(
        self,
        user_id: int,
        channel_id: int,
        name: str,
        focused: str,
        /,
        *,
        subcommand: str | None = None,
        timeout: float = 3.0,  # noqa: ASYNC109 (explicit per-call deadline)
        **options: Any,
    ) -> list[JSON]:
        """Send the partial `options[focused]` and return the choices the bot answered (callback 8)."""
        data = self._command_data(user_id, channel_id, name, subcommand, options, focused=focused)
        inter = await self._dispatch(AUTOCOMPLETE, user_id, channel_id, data)
        await self._emu.store.wait_for(lambda: inter.acked or inter.errors, timeout)
        if inter.response_type != CHOICES or inter.choices is None:
            raise DriverError(f"the bot did not answer autocomplete with choices: {inter.error}")
        return inter.choices

    def _command_data(
        self,
        user_id: int,
        channel_id: int,
        name: str,
        subcommand: str | None,
        options: dict[str, Any],
        focused: str | None,
    ) -> JSON:
        guild = self._emu.store.world.guild_of(channel_id)
        command = self.command(name, guild.id if guild is not None else None)
        resolved: JSON = {}
        definitions: list[JSON] = command.get("options") or []
        path: list[JSON] = []
        for part in (subcommand or "").split():
            node = next(
                (o for o in definitions if o["name"] == part and o["type"] in (SUBCOMMAND, GROUP)), None
            )
            if node is None:
                raise DriverError(f"/{name} has no subcommand or group {part!r}")
            path.append(node)
            definitions = node.get("options") or []
        if any(o["type"] in (SUBCOMMAND, GROUP) for o in definitions):
            raise DriverError(f"/{name} {subcommand or ''} needs a subcommand".replace("  ", " "))
        if focused is not None and focused not in options:
            raise DriverError(f"the focused option {focused!r} needs a (partial) value")
        values = self._options(definitions, options, resolved, channel_id, focused)
        for node in reversed(path):
            values = [{"type": node["type"], "name": node["name"], "options": values}]
        data: JSON = {"id": command["id"], "name": name, "type": 1, "options": values}
        if "guild_id" in command:
            data["guild_id"] = command["guild_id"]
        if resolved:
            data["resolved"] = resolved
        return data

    def _options(
        self,
        definitions: list[JSON],
        given: dict[str, Any],
        resolved: JSON,
        channel_id: int,
        focused: str | None,
    ) -> list[JSON]:
        known = {d["name"]: d for d in definitions}
        unknown_names = sorted(set(given) - set(known))
        if unknown_names:
            raise DriverError(f"unknown option(s) {unknown_names}; the command has {sorted(known)}")
        values: list[JSON] = []
        for definition in definitions:
            option_name = definition["name"]
            if option_name not in given:
                if definition.get("required") and focused is None:
                    raise DriverError(f"required option {option_name!r} is missing")
                continue
            value = given[option_name]
            if option_name == focused:
                values.append(
                    {"name": option_name, "type": definition["type"], "value": str(value), "focused": True}
                )
            else:
                values.append(
                    {
                        "name": option_name,
                        "type": definition["type"],
                        "value": self._option_value(definition, value, resolved, channel_id),
                    }
                )
        return values

    def _option_value(self, definition: JSON, value: Any, resolved: JSON, channel_id: int) -> Any:
        kind, option_name = definition["type"], definition["name"]
        world = self._emu.store.world
        guild = world.guild_of(channel_id) or world.guild
        checks = {
            STRING: isinstance(value, str),
            INTEGER: isinstance(value, int) and not isinstance(value, bool),
            NUMBER: isinstance(value, int | float) and not isinstance(value, bool),
            BOOLEAN: isinstance(value, bool),
        }
        if kind in checks:
            if not checks[kind]:
                raise DriverError(f"option {option_name!r} takes type {kind}, got {value!r}")
            choices = definition.get("choices")
            if choices and value not in [c["value"] for c in choices]:
                raise DriverError(f"option {option_name!r} must be one of {[c['value'] for c in choices]}")
            low = definition.get("min_length" if kind == STRING else "min_value")
            high = definition.get("max_length" if kind == STRING else "max_value")
            measured = len(value) if kind == STRING else value
            if (low is not None and measured < low) or (high is not None and measured > high):
                raise DriverError(f"option {option_name!r} must be within [{low}, {high}], got {value!r}")
            return value
        if kind == ATTACHMENT:
            filename, data, content_type = value
            if len(data) > self._emu.limits.attachment_size_limit:
                raise DriverError(f"{filename} is larger than the upload limit")
            stored = make_attachment(self._emu, channel_id, filename, data, content_type)
            self._emu.store.attachments[stored.id] = stored
            resolved.setdefault("attachments", {})[str(stored.id)] = payloads.attachment(
                stored, self._emu.base_url
            )
            return str(stored.id)
        target = int(value)
        member = guild.member(target)
        role = next((r for r in guild.roles if r.id == target), None)
        chan = guild.channel(target)
        if kind in (USER, MENTIONABLE) and member is not None:
            resolved.setdefault("users", {})[str(target)] = payloads.user(member.user)
            resolved.setdefault("members", {})[str(target)] = {
                k: v for k, v in payloads.member(guild, member, with_permissions=True).items() if k != "user"
            }
        elif kind in (ROLE, MENTIONABLE) and role is not None:
            resolved.setdefault("roles", {})[str(target)] = payloads.role(role)
        elif kind == CHANNEL and chan is not None:
            allowed = definition.get("channel_types")
            if allowed and chan.type not in allowed:
                raise DriverError(f"option {option_name!r} accepts channel types {allowed}")
            resolved.setdefault("channels", {})[str(target)] = {
                **payloads.channel(guild, chan),
                "permissions": str(guild.permissions(world.bot.id)),
            }
        else:
            raise DriverError(f"option {option_name!r} (type {kind}): {value!r} is not a valid target")
        return str(target)

    # --- components -----------------------------------------------------------------------------

    def _component(self, user_id: int, message_id: int, custom_id: str) -> tuple[Message, JSON]:
        msg = self._emu.store.messages.get(message_id)
        if msg is None or msg.deleted or msg.visible_to not in (None, user_id):
            raise DriverError(f"user {user_id} cannot see message {message_id}")
        for _, comp in walk_components(msg.components):
            if comp.get("custom_id") == custom_id:
                if comp.get("disabled"):
                    raise DriverError(f"component {custom_id!r} is disabled")
                return msg, comp
        present = [c.get("custom_id") for _, c in walk_components(msg.components) if c.get("custom_id")]
        raise DriverError(f"message {message_id} has no component {custom_id!r} (it has {present})")

    async def click(self, user_id: int, message_id: int, custom_id: str) -> Interaction:
        msg, comp = self._component(user_id, message_id, custom_id)
        if comp.get("type") != BUTTON or comp.get("style") == LINK_STYLE:
            raise DriverError(f"{custom_id!r} is not a clickable button")
        data = {"custom_id": custom_id, "component_type": BUTTON}
        return await self._dispatch(COMPONENT, user_id, msg.channel_id, data, message=msg)

    async def select(self, user_id: int, message_id: int, custom_id: str, values: list[str]) -> Interaction:
        """Pick `values` in a string select."""
        msg, comp = self._component(user_id, message_id, custom_id)
        if comp.get("type") != STRING_SELECT:
            raise DriverError(f"{custom_id!r} is not a string select")
        offered = [o["value"] for o in comp.get("options") or []]
        low, high = comp.get("min_values", 1), comp.get("max_values", 1)
        if not set(values) <= set(offered) or not low <= len(values) <= high:
            raise DriverError(f"pick {low}-{high} of {offered}, got {values}")
        data = {"custom_id": custom_id, "component_type": STRING_SELECT, "values": values}
        return await self._dispatch(COMPONENT, user_id, msg.channel_id, data, message=msg)

    # --- modals ---------------------------------------------------------------------------------

    async def submit_modal(
        self, opener: Interaction | int, custom_id: str, values: dict[str, Any]
    ) -> Interaction:
        """Submit the modal `custom_id` that the bot opened for this interaction (or user id)."""
        candidates = (
            [opener]
            if isinstance(opener, Interaction)
            else sorted(
                (i for i in self._emu.store.interactions.values() if i.user_id == opener), key=lambda i: -i.id
            )
        )
        parent = next(
            (
                i
                for i in candidates
                if i.modal is not None and not i.modal_submitted and i.modal.get("custom_id") == custom_id
            ),
            None,
        )
        if parent is None or parent.modal is None:
            raise DriverError(f"no open modal {custom_id!r} for {opener!r}")
        by_custom_id = self._modal_values(parent.modal, values)
        components = [self._submitted(c, by_custom_id) for c in parent.modal.get("components") or []]
        parent.modal_submitted = True
        data = {"custom_id": custom_id, "components": components}
        source = self._emu.store.messages.get(parent.message_id) if parent.message_id is not None else None
        return await self._dispatch(
            MODAL_SUBMIT, parent.user_id, parent.channel_id, data, message=source, parent=parent
        )

    @staticmethod
    def _modal_values(modal: JSON, values: dict[str, Any]) -> dict[str, Any]:
        """Key `values` by custom_id; a user knows inputs by their label, so labels are accepted too."""
        names: dict[str, str] = {}
        for _, comp in walk_components(modal.get("components") or []):
            inner = comp.get("component") if comp.get("type") == LABEL else comp
            if isinstance(inner, dict) and inner.get("custom_id"):
                names[inner["custom_id"]] = inner["custom_id"]
                label = comp.get("label") or inner.get("label")
                if label:
                    names.setdefault(label.lower(), inner["custom_id"])
        unknown_names = sorted(k for k in values if k not in names and k.lower() not in names)
        if unknown_names:
            raise DriverError(f"modal {modal.get('custom_id')!r} has no input(s) {unknown_names}")
        return {names.get(k, names.get(k.lower(), k)): v for k, v in values.items()}

    def _submitted(self, comp: JSON, values: dict[str, Any]) -> JSON:
        """A modal component as the client sends it back: legacy rows or type-18 labels."""
        if comp["type"] == 1:
            return {
                "type": 1,
                "components": [self._submitted(c, values) for c in comp.get("components") or []],
            }
        if comp["type"] == LABEL:
            return {"type": LABEL, "component": self._submitted(comp["component"], values)}
        if comp["type"] == TEXT_DISPLAY:
            return {"type": TEXT_DISPLAY, **({"id": comp["id"]} if "id" in comp else {})}
        custom_id = comp["custom_id"]
        if comp["type"] == TEXT_INPUT:
            value = str(values.get(custom_id, comp.get("value") or ""))
            if comp.get("required", True) and not value:
                raise DriverError(f"modal input {custom_id!r} is required")
            low, high = comp.get("min_length", 0), comp.get("max_length", 4000)
            if value and not low <= len(value) <= high:
                raise DriverError(
                    f"modal input {custom_id!r} needs {low}-{high} characters, got {len(value)}"
                )
            return {"type": TEXT_INPUT, "custom_id": custom_id, "value": value}
        if comp["type"] == STRING_SELECT:
            picked = values.get(custom_id, [])
            return {
                "type": STRING_SELECT,
                "custom_id": custom_id,
                "values": [picked] if isinstance(picked, str) else picked,
            }
        raise DriverError(f"modal component type {comp['type']} is not supported by the driver")

    # --- plain messages -------------------------------------------------------------------------

    async def say(self, user_id: int, channel_id: int, content: str) -> Message:
        """A human posts a message (MESSAGE_CREATE reaches the bot)."""
        msg = Message(self._emu.ids.next(), channel_id, user_id, content=content)
        await publish(self._emu, msg, created=True)
        return msg

    # --- server settings ------------------------------------------------------------------------

    async def set_server_locale(self, locale: str, guild: int = 0) -> None:
        """An admin changes the ``guild``-th server's language (Server Settings → Community):
        its ``preferred_locale``, sent to the bot in GUILD_UPDATE, and its interactions'
        ``guild_locale`` from then on."""
        found = self._emu.store.world.guilds[guild]
        found.locale = locale
        await self._emu.gateway.dispatch("GUILD_UPDATE", payloads.guild_update(found))

    # --- dispatch -------------------------------------------------------------------------------

    async def _dispatch(
        self,
        kind: int,
        user_id: int,
        channel_id: int,
        data: JSON,
        *,
        message: Message | None = None,
        parent: Interaction | None = None,
    ) -> Interaction:
        emu = self._emu
        world = emu.store.world
        guild = world.guild_of(channel_id)
        if guild is None or guild.member(user_id) is None:
            raise DriverError(f"user {user_id} / channel {channel_id} is not in a guild of the world")
        if not emu.gateway.holds(guild.id):
            raise DriverError(f"no bot is connected to the gateway shard of guild {guild.id}")
        inter = Interaction(
            emu.ids.next(),
            secrets.token_urlsafe(48),
            kind,
            user_id,
            channel_id,
            data,
            emu.clock.now(),
            message_id=message.id if message is not None else None,
            parent=parent,
        )
        emu.store.interactions[inter.id] = inter
        body = payloads.interaction(
            inter,
            world,
            size_limit=emu.limits.attachment_size_limit,
            message_body=message_payload(emu, message) if message is not None else None,
        )
        await emu.gateway.dispatch("INTERACTION_CREATE", body)
        emu.store.emit("interaction_created", {"interaction": body})
        return inter
