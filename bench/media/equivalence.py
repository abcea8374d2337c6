"""Are the two servers' thumbnails equivalent? Format, dimensions, bytes and PSNR between them."""

from __future__ import annotations

import math
import urllib.request
from typing import Any

_MAGIC: tuple[tuple[bytes, str], ...] = (
    (b"\xff\xd8\xff", "jpeg"),
    (b"\x89PNG\r\n\x1a\n", "png"),
    (b"GIF8", "gif"),
)


def sniff(data: bytes) -> str | None:
    """The image format from magic bytes (the formats the bench asks for)."""
    for magic, kind in _MAGIC:
        if data.startswith(magic):
            return kind
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "webp"
    if data[4:12] in (b"ftypavif", b"ftypavis"):
        return "avif"
    return None


def fetch(url: str, timeout: float = 60.0) -> tuple[int, bytes]:
    """GET a URL; (status, body)."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return int(response.status), response.read()
    except urllib.error.HTTPError as err:
        return int(err.code), err.read()


def describe(data: bytes) -> dict[str, Any]:
    """Format, width, height and size of one encoded image."""
    import pyvips

    info: dict[str, Any] = {"format": sniff(data), "bytes": len(data)}
    try:
        image = pyvips.Image.new_from_buffer(data, "")
        info["width"], info["height"] = image.width, image.get_page_height()
        fields = set(image.get_fields())
        # JPEG: several scans means progressive; PNG: Adam7 interlace.
        info["progressive"] = bool(
            ("jpeg-multiscan" in fields and image.get("jpeg-multiscan"))
            or ("interlaced" in fields and image.get("interlaced"))
        )
        if "jpeg-chroma-subsample" in fields:
            info["chroma"] = image.get("jpeg-chroma-subsample")
    except pyvips.Error as err:
        info["error"] = str(err).splitlines()[0]
    return info


def psnr(first: bytes, second: bytes) -> float:
    """PSNR in dB between two decoded images of the same size (sRGB, alpha dropped)."""
    import pyvips

    def load(data: bytes) -> Any:
        image = pyvips.Image.new_from_buffer(data, "").colourspace("srgb")
        if image.hasalpha():
            image = image.flatten(background=[255, 255, 255])
        return image.extract_band(0, n=3).cast("float")

    a, b = load(first), load(second)
    if (a.width, a.height) != (b.width, b.height):
        return math.nan
    mse = ((a - b) ** 2).avg()
    return math.inf if mse == 0 else 10 * math.log10(255.0**2 / mse)


def compare(confab_url: str, thumbor_url: str, expected_format: str) -> dict[str, Any]:
    """Fetch one sample from each server and check they are equivalent thumbnails."""
    status_c, body_c = fetch(confab_url)
    status_t, body_t = fetch(thumbor_url)
    result: dict[str, Any] = {"confab_status": status_c, "thumbor_status": status_t}
    if status_c != 200 or status_t != 200:
        result["equivalent"] = False
        return result
    confab, thumbor = describe(body_c), describe(body_t)
    result["confab"], result["thumbor"] = confab, thumbor
    same_dims = (confab.get("width"), confab.get("height")) == (
        thumbor.get("width"),
        thumbor.get("height"),
    )
    result["same_dimensions"] = same_dims
    result["same_format"] = confab["format"] == thumbor["format"] == expected_format
    result["psnr_db"] = psnr(body_c, body_t) if same_dims else math.nan
    # Two good resamplers of one source differ a little; above ~30 dB they look the same.
    result["equivalent"] = bool(same_dims and result["same_format"] and result["psnr_db"] >= 30)
    return result
