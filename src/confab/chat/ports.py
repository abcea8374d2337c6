"""What chat needs from the media role, as a Protocol (chat never imports media).

When both roles run in one process, bootstrap hands chat the media role's in-process
facade, which satisfies `MediaClient` structurally; otherwise an HTTP client will
(scale-out). Only plain values cross this port: strings, numbers and small records.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Protocol


class AttachmentView(Protocol):
    """An uploaded image as a message shows it: its size and signed media URLs."""

    @property
    def id(self) -> str:
        """The upload id (SHA-256 of the content, 64 lowercase hex)."""
        ...

    @property
    def width(self) -> int: ...

    @property
    def height(self) -> int: ...

    @property
    def thumbnail_url(self) -> str:
        """A signed URL of a small rendering, for the message list."""
        ...

    @property
    def full_url(self) -> str:
        """A signed URL of the image at full display size."""
        ...


class LinkPreview(Protocol):
    """What a link in a message points to: title, description and a signed image URL."""

    @property
    def url(self) -> str:
        """The URL as the message wrote it."""
        ...

    @property
    def title(self) -> str | None: ...

    @property
    def description(self) -> str | None: ...

    @property
    def image(self) -> str | None:
        """A signed thumbnail URL of the page's image (or of the image linked to)."""
        ...


class MediaClient(Protocol):
    """The media role, as chat calls it."""

    async def describe_attachments(self, upload_ids: Sequence[str]) -> Mapping[str, AttachmentView]:
        """The stored uploads among `upload_ids`, by id; unknown ids are left out."""
        ...

    async def link_previews(self, urls: Sequence[str]) -> Sequence[LinkPreview]:
        """Previews of the pages `urls` name, in that order; pages that fail are left out.

        Never raises for a bad page: a failure is an absent preview.
        """
        ...
