"""Every thumbor filter renders on JPEG, PNG, animated GIF and WebP sources (issue 12).

Each render is checked for its size and frame count, and that the filter changed the
pixels (against the same URL without it) when it should.
"""

from __future__ import annotations

from typing import Any

import pytest
import pyvips

from confab.core.errors import Unprocessable
from confab.media.domain.grammar import parse_path
from confab.media.domain.options import Rendered
from confab.media.imaging.limits import RenderLimits
from confab.media.imaging.render import render
from tests.e2e.sources import jpeg_claiming
from tests.integration.test_render import flat

LIMITS = RenderLimits()
MARK = "http://example.com/mark.png"
NINE = "http://example.com/frame.9.png"
IDENTITY = "[(0,0),(255,255)]"


def _gradient() -> Any:
    xy = pyvips.Image.xyz(200, 150)
    red, green = xy[0] * 1.2, xy[1] * 1.5
    return red.bandjoin([green, (xy[0] + xy[1]) * 0.6]).cast("uchar").copy(interpretation="srgb")


def _animated_gradient(frames: int) -> bytes:
    """An animated GIF of shifted gradients (flat frames would hide what filters do)."""
    pages = [(_gradient() + 30 * i).cast("uchar") for i in range(frames)]
    strip = pyvips.Image.arrayjoin(pages, across=1).copy(interpretation="srgb")
    strip.set_type(pyvips.GValue.gint_type, "page-height", 150)
    strip.set_type(pyvips.GValue.array_int_type, "delay", [80] * frames)
    return bytes(strip.gifsave_buffer())


def _nine_patch() -> bytes:
    """A 12x12 red nine-patch: its middle 2x2 stretches, the content sits 4 px inside."""
    black = [0, 0, 0, 255]
    nine = flat(12, 12, [200, 0, 0]).bandjoin_const([255])
    nine = nine.draw_rect([0, 0, 0, 0], 0, 0, 12, 1).draw_rect([0, 0, 0, 0], 0, 11, 12, 1)
    nine = nine.draw_rect([0, 0, 0, 0], 0, 0, 1, 12).draw_rect([0, 0, 0, 0], 11, 0, 1, 12)
    nine = nine.draw_rect(black, 5, 0, 2, 1).draw_rect(black, 0, 5, 1, 2)
    nine = nine.draw_rect(black, 4, 11, 4, 1).draw_rect(black, 11, 4, 1, 4)
    nine = nine.draw_rect([0, 0, 0, 0], 4, 4, 4, 4)  # the content shows through the middle
    return bytes(nine.copy(interpretation="srgb").pngsave_buffer())


SOURCES: dict[str, Any] = {
    "jpeg": lambda: bytes(_gradient().jpegsave_buffer(Q=95)),
    "png": lambda: bytes(_gradient().bandjoin_const([220]).pngsave_buffer()),
    "gif": lambda: _animated_gradient(3),
    "webp": lambda: bytes(_gradient().webpsave_buffer(Q=95)),
}

# (filter, expected (width, height) of 120x80 output, whether it changes pixels)
FILTERS = [
    ("brightness(40)", (120, 80), True),
    ("contrast(-40)", (120, 80), True),
    ("equalize()", (120, 80), True),
    ("rotate(90)", (80, 120), True),
    ("noise(40,3)", (120, 80), True),
    ("red_eye()", (120, 80), False),
    ("rgb(20,-20,40)", (120, 80), True),
    ("round_corner(20,255,255,255)", (120, 80), True),
    ("round_corner(20|40,0,0,0,1)", (120, 80), True),
    ("sharpen(2,1.0,true)", (120, 80), True),
    ("saturation(0.2)", (120, 80), True),
    ("colorize(50,0,20,ffff00)", (120, 80), True),
    ("convolution(-1;-1;-1;-1;8;-1;-1;-1;-1,3,false)", (120, 80), True),
    (f"curve([(0,0),(40,90),(255,255)],{IDENTITY},{IDENTITY},{IDENTITY})", (120, 80), True),
    (f"watermark({MARK},-10,-10,0)", (120, 80), True),
    (f"watermark({MARK},repeat,repeat,30,20,20)", (120, 80), True),
    (f"frame({NINE})", (126, 86), True),
    ("proportion(0.5)", (60, 40), True),
    ("focal(0x0:20x150)", (120, 80), False),  # 200x150 into 120x80 is cut at the sides: moves
    ("max_age(60)", (120, 80), False),
    ("stretch()", (120, 80), None),
    ("extract_focal()", (120, 80), False),
    ("autojpg()", (120, 80), False),
]  # fmt: skip


@pytest.fixture(scope="module")
def sources() -> dict[str, bytes]:
    return {name: make() for name, make in SOURCES.items()}


@pytest.fixture(scope="module")
def overlays() -> dict[str, bytes]:
    mark = flat(30, 20, [255, 255, 255]).bandjoin_const([255])
    return {MARK: bytes(mark.pngsave_buffer()), NINE: _nine_patch()}


def _render(data: bytes, filters: str, overlays: dict[str, bytes]) -> Rendered:
    """PNG output (lossless, so pixel comparisons are exact); an animation stays a GIF."""
    fmt = "gif" if data.startswith(b"GIF") else "png"
    request = parse_path(f"unsafe/120x80/filters:{filters}:format({fmt})/example.com/a")
    return render(data, request.options, (), LIMITS, overlays)


def _decoded(rendered: Rendered) -> Any:
    animated = rendered.format in ("gif", "webp")
    return pyvips.Image.new_from_buffer(rendered.data, "", **({"n": -1} if animated else {}))


def _pixels(rendered: Rendered) -> bytes:
    return bytes(_decoded(rendered).write_to_memory())


@pytest.mark.parametrize("source", list(SOURCES))
@pytest.mark.parametrize(("filters", "size", "changes"), FILTERS, ids=[f[0][:30] for f in FILTERS])
def test_every_filter_renders(
    sources: dict[str, bytes],
    overlays: dict[str, bytes],
    source: str,
    filters: str,
    size: tuple[int, int],
    changes: bool | None,
) -> None:
    rendered = _render(sources[source], filters, overlays)
    assert (rendered.width, rendered.height) == size
    assert rendered.frames == (3 if source == "gif" else 1)
    image = _decoded(rendered)
    assert image.height == size[1] * rendered.frames
    if changes is not None and size == (120, 80):
        plain = _render(sources[source], "max_age(1)", overlays)
        assert (_pixels(rendered) != _pixels(plain)) is changes


def test_cover_keeps_the_first_frame_only(
    sources: dict[str, bytes], overlays: dict[str, bytes]
) -> None:
    rendered = _render(sources["gif"], "cover()", overlays)
    assert rendered.frames == 1 and rendered.format == "gif"


def test_autojpg_turns_an_opaque_png_into_jpeg() -> None:
    opaque = bytes(_gradient().pngsave_buffer())
    request = parse_path("unsafe/120x80/filters:autojpg()/example.com/a")
    assert render(opaque, request.options, (), LIMITS).format == "jpeg"


def test_fill_transparent_merges_the_fill_into_transparent_pixels() -> None:
    clear = flat(40, 40, [0, 0, 0]).bandjoin_const([0]).copy(interpretation="srgb")
    data = bytes(clear.pngsave_buffer())
    kept = parse_path("unsafe/fit-in/80x40/filters:fill(red):format(png)/example.com/a")
    merged = parse_path("unsafe/fit-in/80x40/filters:fill(red,true):format(png)/example.com/a")
    centre_kept = pyvips.Image.new_from_buffer(render(data, kept.options, (), LIMITS).data, "")
    centre_merged = pyvips.Image.new_from_buffer(render(data, merged.options, (), LIMITS).data, "")
    assert centre_kept.getpoint(40, 20)[3] == 0  # thumbor pastes unmerged: still transparent
    assert centre_merged.getpoint(40, 20)[:3] == [255, 0, 0]
    assert centre_kept.getpoint(2, 20)[:3] == [255, 0, 0]  # the padding is red either way


def test_round_corner_paints_the_corner_and_keeps_the_middle(sources: dict[str, bytes]) -> None:
    rendered = _render(sources["jpeg"], "round_corner(20,0,0,255)", {})
    image = pyvips.Image.new_from_buffer(rendered.data, "")
    assert image.getpoint(0, 0)[:3] == [0, 0, 255]
    assert image.getpoint(119, 79)[:3] == [0, 0, 255]
    assert image.getpoint(60, 40)[:3] != [0, 0, 255]


def test_watermark_lands_where_asked(overlays: dict[str, bytes]) -> None:
    black = bytes(flat(100, 100, [0, 0, 0]).pngsave_buffer())
    request = parse_path(f"unsafe/filters:watermark({MARK},-10,-10,0):format(png)/example.com/a")
    image = pyvips.Image.new_from_buffer(
        render(black, request.options, (), LIMITS, overlays).data, ""
    )
    assert image.getpoint(75, 75)[:3] == [255, 255, 255]  # 100-30-10=60..90, 100-20-10=70..90
    assert image.getpoint(55, 75)[:3] == [0, 0, 0]
    assert image.getpoint(75, 65)[:3] == [0, 0, 0]


@pytest.mark.parametrize(("container", "codec"), [("mp4", "h264"), ("webm", "vp9")])
def test_gifv_writes_a_video_of_every_frame(
    sources: dict[str, bytes], container: str, codec: str
) -> None:
    import io

    import av

    request = parse_path(f"unsafe/121x81/filters:gifv({container})/example.com/a")
    rendered = render(sources["gif"], request.options, (), LIMITS)
    assert rendered.format == container
    assert (rendered.width, rendered.height, rendered.frames) == (120, 80, 3)  # even sides
    with av.open(io.BytesIO(rendered.data)) as video:
        stream = video.streams.video[0]
        assert (stream.codec_context.name, stream.width, stream.height) == (codec, 120, 80)
        assert sum(1 for _ in video.decode(video=0)) == 3


def test_gifv_leaves_other_sources_alone(sources: dict[str, bytes]) -> None:
    request = parse_path("unsafe/120x80/filters:gifv()/example.com/a")
    assert render(sources["jpeg"], request.options, (), LIMITS).format == "jpeg"


def test_a_watermark_holding_fewer_pixels_than_it_claims_is_refused(
    sources: dict[str, bytes],
) -> None:
    # Fetched from a URL like a source, and decoded like one.
    lying = jpeg_claiming(400, 3000)
    request = parse_path(f"unsafe/120x80/filters:watermark({MARK},0,0,0)/example.com/a")
    with pytest.raises(Unprocessable) as caught:
        render(sources["jpeg"], request.options, (), LIMITS, {MARK: lying})
    assert "fewer pixels than its header claims" in caught.value.detail
