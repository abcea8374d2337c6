"""The JSON shapes of what the media role gives a message: attachments and link previews."""

from __future__ import annotations

from typing import Any

from confab.chat.ports import AttachmentView, LinkPreview


def attachment_json(attachment: AttachmentView) -> dict[str, Any]:
    """`{"id","width","height","thumbnail_url","full_url"}`: stored with the message as is."""
    return {
        "id": attachment.id,
        "width": attachment.width,
        "height": attachment.height,
        "thumbnail_url": attachment.thumbnail_url,
        "full_url": attachment.full_url,
    }


def preview_json(preview: LinkPreview) -> dict[str, Any]:
    """`{"url","title","description","image"}` (absent parts are null)."""
    return {
        "url": preview.url,
        "title": preview.title,
        "description": preview.description,
        "image": preview.image,
    }
