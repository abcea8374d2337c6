"""Uploads: content-addressed image blobs, checked by the renderer before they are kept."""

from __future__ import annotations

from dataclasses import asdict, dataclass

from confab.core import jsoncodec
from confab.core.errors import TooLarge, UnsupportedMedia
from confab.core.ids import content_id, is_content_id
from confab.core.ports import BlobStore, JobQueue
from confab.media.domain.options import SourceInfo
from confab.media.domain.sniff import sniff
from confab.media.imaging.limits import RenderLimits

IMAGE_KINDS = frozenset({"jpeg", "png", "gif", "webp", "avif", "heif", "tiff", "svg", "pdf"})


def upload_blob_key(upload_id: str) -> str:
    """The blob key of an upload's bytes."""
    return f"uploads/{upload_id[:2]}/{upload_id}"


def _info_key(upload_id: str) -> str:
    return f"uploads/{upload_id[:2]}/{upload_id}.json"


@dataclass(frozen=True, slots=True)
class UploadInfo:
    """What `POST /media/uploads` answers."""

    id: str
    width: int
    height: int
    format: str
    bytes: int
    frames: int = 1


class UploadService:
    """Stores uploaded images once each (the id is the SHA-256 of the content)."""

    def __init__(
        self,
        *,
        blobs: BlobStore,
        jobs: JobQueue,
        limits: RenderLimits,
        max_bytes: int,
        probe_timeout: float,
    ) -> None:
        self._blobs = blobs
        self._jobs = jobs
        self._limits = limits
        self.max_bytes = max_bytes
        self._probe_timeout = probe_timeout

    async def upload(self, data: bytes) -> tuple[UploadInfo, bool]:
        """Store `data`; return its info and whether it was new."""
        if len(data) > self.max_bytes:
            raise TooLarge(f"upload is over {self.max_bytes} bytes", code="upload_too_large")
        if not data:
            raise UnsupportedMedia("the upload is empty", code="not_an_image")
        kind = sniff(data)
        if kind is None or kind not in IMAGE_KINDS:
            raise UnsupportedMedia(
                f"the upload is not an image (detected: {kind or 'unknown'})", code="not_an_image"
            )
        upload_id = content_id(data)
        known = await self.info(upload_id)
        if known is not None:
            return known, False
        # Decoding the header in a worker refuses undecodable, disabled and oversized images.
        probed: SourceInfo = await self._jobs.call(
            "media.probe", data, self._limits, timeout=self._probe_timeout
        )
        info = UploadInfo(
            id=upload_id,
            width=probed.width,
            height=probed.height,
            format=probed.format,
            bytes=len(data),
            frames=probed.frames,
        )
        await self._blobs.put(upload_blob_key(upload_id), data)
        await self._blobs.put(_info_key(upload_id), jsoncodec.dumps(asdict(info)))
        return info, True

    async def info(self, upload_id: str) -> UploadInfo | None:
        """The info of a stored upload, or None."""
        if not is_content_id(upload_id):
            return None
        raw = await self._blobs.get(_info_key(upload_id))
        if raw is None:
            return None
        return UploadInfo(**jsoncodec.loads(raw))
