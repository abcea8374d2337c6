"""The media role as chat calls it in one process (chat's `MediaClient`, structurally).

Chat never imports media: it declares what it needs (`confab.chat.ports.MediaClient`) and
bootstrap hands it this facade when both roles share a process.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

from confab.core.ids import is_content_id
from confab.media.domain.urls import media_url, upload_source
from confab.media.services.previews import Preview, PreviewService
from confab.media.services.uploads import UploadInfo, UploadService

#: The message list shows images at most 320 px high: twice that for dense screens.
THUMBNAIL_OPTIONS: Final = "fit-in/640x640"
#: "Full size" for viewing: bounded, so a huge photo is not re-encoded whole on a click.
FULL_OPTIONS: Final = "fit-in/2048x2048"


@dataclass(frozen=True, slots=True)
class Attachment:
    """An upload as a message shows it: its size and signed URLs."""

    id: str
    width: int
    height: int
    thumbnail_url: str
    full_url: str


class InProcessMediaClient:
    """Describes uploads and previews links for chat, by direct calls to the services."""

    def __init__(self, uploads: UploadService, previews: PreviewService, security_key: str) -> None:
        self._uploads = uploads
        self._previews = previews
        self._key = security_key

    def attachment(self, info: UploadInfo) -> Attachment:
        """The attachment view of a stored upload."""
        source = upload_source(info.id)
        return Attachment(
            id=info.id,
            width=info.width,
            height=info.height,
            thumbnail_url=media_url(self._key, THUMBNAIL_OPTIONS, source),
            full_url=media_url(self._key, FULL_OPTIONS, source),
        )

    async def describe_attachments(self, upload_ids: Sequence[str]) -> dict[str, Attachment]:
        """The stored uploads among `upload_ids`, by id (unknown ones are left out)."""
        wanted = list(dict.fromkeys(i for i in upload_ids if is_content_id(i)))
        infos = await asyncio.gather(*(self._uploads.info(i) for i in wanted))
        return {info.id: self.attachment(info) for info in infos if info is not None}

    async def link_previews(self, urls: Sequence[str]) -> list[Preview]:
        """Previews of `urls` in order; pages that fail or say nothing are left out."""
        found = await asyncio.gather(*(self._previews.preview(url) for url in urls))
        return [preview for preview in found if preview is not None]
