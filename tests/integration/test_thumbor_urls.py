"""thumbor's integration run (integration_tests/urls_helpers.py, single_dataset) rendered
here: every option and filter of it answers an image, on a JPEG, an RGBA PNG and an
animated GIF of our own (thumbor's test images are not shipped with Confab).

Vectors listed in tests/unit/test_thumbor_vectors.py DIFFERENCES are refused on purpose.
"""

from __future__ import annotations

import pytest
import pyvips

from confab.media.domain.grammar import parse_path
from confab.media.imaging.limits import RenderLimits
from confab.media.imaging.render import plan, render
from tests.integration.test_render_filters import _animated_gradient, _gradient, _nine_patch
from tests.unit.test_thumbor_vectors import OPTIONS, _difference

LIMITS = RenderLimits()
SOURCES = {
    "jpeg": lambda: bytes(_gradient().jpegsave_buffer()),
    "png": lambda: bytes(_gradient().bandjoin_const([200]).pngsave_buffer()),
    "gif": lambda: _animated_gradient(2),
}
# The overlay images thumbor's integration URLs name, as our grammar normalizes them.
OVERLAYS = {"http://rgba-interlaced.png": _nine_patch, "http://rgba.png": _nine_patch}


@pytest.fixture(scope="module")
def overlays() -> dict[str, bytes]:
    return {url: make() for url, make in OVERLAYS.items()}


@pytest.mark.parametrize("source", list(SOURCES))
def test_every_integration_option_renders(source: str, overlays: dict[str, bytes]) -> None:
    data = SOURCES[source]()
    rendered_count = 0
    for option in OPTIONS:
        url = f"unsafe/{option}/gradient.jpg"
        if _difference(f"/{option}/") is not None:
            continue
        request = parse_path(url)
        if request.meta:
            described = plan(data, request.options, LIMITS)
            assert described["thumbor"]["target"]["width"] > 0, url
            continue
        out = render(data, request.options, (), LIMITS, overlays)
        if out.format in ("mp4", "webm"):  # gifv(): checked in test_render_filters
            assert out.data and out.width > 0, url
        else:
            image = pyvips.Image.new_from_buffer(out.data, "")
            assert image.width == out.width > 0, url
        rendered_count += 1
    assert rendered_count > 50
