"""Source formats beyond the web's own (issue 12): HEIC through pillow-heif, SVG sized in
physical units at thumbor's SVG_DPI (150), TIFF written as PNG as thumbor does."""

from __future__ import annotations

import io

import pytest
import pyvips

from confab.core.errors import Unprocessable
from confab.media.domain.grammar import parse_path
from confab.media.imaging.limits import RenderLimits
from confab.media.imaging.render import probe, render

EXTRAS = RenderLimits(extra_loaders=("svg", "tiff"))


def heic(width: int, height: int, colour: tuple[int, int, int]) -> bytes:
    """A HEIC photo (HEVC), written by pillow-heif's bundled x265."""
    import pillow_heif
    from PIL import Image

    buffer = io.BytesIO()
    pillow_heif.from_pillow(Image.new("RGB", (width, height), colour)).save(
        buffer, format="HEIF", quality=90
    )
    return buffer.getvalue()


def test_heic_is_decoded_and_rendered_as_jpeg() -> None:
    data = heic(64, 48, (200, 30, 30))
    assert data[4:12] == b"ftypheic"
    info = probe(data, RenderLimits())
    assert (info.width, info.height, info.format) == (64, 48, "heic")
    rendered = render(data, parse_path("unsafe/32x24/example.com/a").options, (), RenderLimits())
    assert (rendered.format, rendered.width, rendered.height) == ("jpeg", 32, 24)
    pixel = pyvips.Image.new_from_buffer(rendered.data, "").getpoint(16, 12)
    assert all(abs(a - b) <= 6 for a, b in zip(pixel, (200, 30, 30), strict=True))


def test_truncated_heic_is_a_corrupt_image() -> None:
    data = heic(64, 48, (10, 200, 10))
    with pytest.raises(Unprocessable) as caught:
        probe(data[: len(data) - 40], RenderLimits())
    assert caught.value.reason == "corrupt_image"


SVG = (
    '<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}">'
    '<rect width="100%" height="100%" fill="red"/></svg>'
)


@pytest.mark.parametrize(
    ("width", "height", "pixels"),
    [
        ("1in", "0.5in", (150, 75)),  # thumbor's SVG_DPI
        ("2.54cm", "1.27cm", (150, 75)),
        ("72pt", "36pt", (150, 75)),
        ("100", "50", (100, 50)),  # px sizes are not scaled
        ("100px", "50px", (100, 50)),
    ],
)
def test_svg_physical_units_at_thumbors_density(
    width: str, height: str, pixels: tuple[int, int]
) -> None:
    data = SVG.format(w=width, h=height).encode()
    info = probe(data, EXTRAS)
    assert (info.width, info.height) == pixels
    rendered = render(data, parse_path("unsafe/example.com/a").options, (), EXTRAS)
    assert (rendered.format, rendered.width, rendered.height) == ("png", *pixels)


def test_tiff_sources_become_png() -> None:
    data = bytes(pyvips.Image.black(40, 30).tiffsave_buffer())
    rendered = render(data, parse_path("unsafe/20x0/example.com/a").options, (), EXTRAS)
    assert (rendered.format, rendered.width, rendered.height) == ("png", 20, 15)
