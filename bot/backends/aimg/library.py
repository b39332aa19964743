"""AIMG's calls on a user's library: votes, deletion, reports, and the creations list."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from typing import Any

from bot.backends.aimg.errors import validated_list
from bot.backends.aimg.models import AimgItem, AimgOutcome, AimgPage, MediaType
from bot.backends.aimg.transport import AimgTransport, Query


class AimgLibrary:
    """The library calls of one session (the client's base)."""

    def __init__(self, api: AimgTransport) -> None:
        self._api = api

    async def like_items(self, item_ids: Sequence[str]) -> list[AimgOutcome]:
        """Like; this also removes a dislike (docs/backends/aimg.md)."""
        return await self._api.outcomes("POST", "likeItems", body={"imageIDs": list(item_ids)})

    async def unlike_items(self, item_ids: Sequence[str]) -> list[AimgOutcome]:
        return await self._api.outcomes("POST", "unlikeItems", body={"imageIDs": list(item_ids)})

    async def dislike_items(self, item_ids: Sequence[str]) -> list[AimgOutcome]:
        """Dislike; this also removes a like."""
        return await self._api.outcomes("POST", "dislikeItems", body={"imageIDs": list(item_ids)})

    async def undislike_items(self, item_ids: Sequence[str]) -> list[AimgOutcome]:
        return await self._api.outcomes("POST", "undislikeItems", body={"imageIDs": list(item_ids)})

    async def delete_items(self, item_ids: Sequence[str]) -> list[AimgOutcome]:
        # DELETE with the ids in the query, comma-separated, unlike the POSTs (docs/backends/aimg.md).
        return await self._api.outcomes("DELETE", "deleteItems", query={"imageIDs": ",".join(item_ids)})

    async def report_items(
        self, item_ids: Sequence[str], *, report_queue: str | None = None, information: str | None = None
    ) -> list[AimgOutcome]:
        """Report for review; ``report_queue`` is one of :meth:`get_report_queues` (default: none given)."""
        body: dict[str, Any] = {"itemIds": list(item_ids)}
        if report_queue is not None:
            body["reportQueue"] = report_queue
        if information is not None:
            body["additionalInformation"] = information
        return await self._api.outcomes("POST", "reportItems", body=body)

    async def get_my_creations(
        self,
        *,
        pagination_index: str | None = None,
        limit: int | None = None,
        mtype: MediaType | None = None,
        folder_id: str | None = None,
    ) -> AimgPage:
        """One page, newest first; pass the previous page's ``next_pagination_index`` for the next."""
        query: Query = {}
        if pagination_index is not None:
            query["paginationIndex"] = pagination_index
        if limit is not None:
            query["limit"] = limit
        if mtype is not None:
            query["mtype"] = mtype
        if folder_id is not None:
            query["folderID"] = folder_id
        envelope = await self._api.call("GET", "getMyCreations", query=query)
        items = validated_list(AimgItem, envelope.payload, "getMyCreations")
        metadata = envelope.metadata or {}
        next_index = metadata.get("nextPaginationIndex")
        total = metadata.get("totalCount")
        return AimgPage(
            items=items,
            next_pagination_index=str(next_index) if next_index not in (None, "", 0, "0") else None,
            total_count=total if isinstance(total, int) else None,
        )

    async def iter_my_creations(
        self, *, page_size: int = 100, mtype: MediaType | None = None
    ) -> AsyncIterator[AimgItem]:
        """Every item of the account, newest first, a page at a time."""
        index: str | None = None
        while True:
            page = await self.get_my_creations(pagination_index=index, limit=page_size, mtype=mtype)
            for item in page.items:
                yield item
            # A server that hands back the index it was given would otherwise loop forever.
            if not page.items or page.next_pagination_index in (None, index):
                return
            index = page.next_pagination_index
