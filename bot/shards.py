"""Gateway shards of this process (docs/scaling.md): which ids it runs, which guilds it owns, and
its share of Discord's global budget."""

from __future__ import annotations

from collections.abc import Collection


def parse_shards(text: str) -> list[int]:
    """``"0-3"``, ``"5"`` or ``"0-1,6"`` as the sorted shard ids; ValueError (a sentence) otherwise."""
    ids: set[int] = set()
    for part in text.replace(" ", "").split(","):
        low, dash, high = part.partition("-")
        if not low.isdigit() or (dash and not high.isdigit()):
            raise ValueError(f"{text!r} is not a list of shard ids such as 0-3 or 0,2,5-6")
        first, last = int(low), int(high) if dash else int(low)
        if last < first:
            raise ValueError(f"{part!r} runs backwards: write the lower shard id first")
        ids.update(range(first, last + 1))
    return sorted(ids)


def shard_of(guild_id: int, shard_count: int) -> int:
    """The gateway shard that receives a guild's events (Discord's rule)."""
    return (guild_id >> 22) % shard_count


def owns(guild_id: int, shards: Collection[int] | None, shard_count: int | None) -> bool:
    """Whether a process running ``shards`` of ``shard_count`` (None: all of them) owns the guild."""
    if shards is None or shard_count is None:
        return True
    return shard_of(guild_id, shard_count) in shards


def global_share(writes: int, shards: Collection[int] | None, shard_count: int | None) -> int:
    """This process's part of a per-token budget of ``writes``: split in proportion to the shards
    each process runs, so processes with disjoint shards never together exceed it (at least 1)."""
    if shards is None or shard_count is None:
        return writes
    return max(1, writes * len(shards) // shard_count)
