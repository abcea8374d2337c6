"""Flag values of `confab thumbs`: sizes, rates, networks, render options."""

from __future__ import annotations

import pytest

from confab.core.errors import InvalidInput
from confab.media.batch.flags import (
    RenderFlags,
    build_options,
    parse_network,
    parse_positive,
    parse_quality,
    parse_rate,
    parse_size,
)
from confab.media.domain.options import RenderOptions


@pytest.mark.parametrize(
    ("text", "size"),
    [
        ("320x240", (320, 240)),
        ("320X240", (320, 240)),
        ("320x", (320, 0)),
        ("x240", (0, 240)),
        ("320x0", (320, 0)),
        (" 64 x 48 ", (64, 48)),
    ],
)
def test_sizes(text: str, size: tuple[int, int]) -> None:
    assert parse_size(text) == size


@pytest.mark.parametrize(
    "text", ["", "320", "0x0", "x", "-320x240", "320x240x2", "axb", "1e3x2", "99999x10"]
)
def test_bad_sizes(text: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        parse_size(text)
    assert caught.value.reason == "bad_size"


@pytest.mark.parametrize(
    ("text", "per_minute"),
    [
        ("120/min", 120.0),
        ("120", 120.0),
        ("2/s", 120.0),
        ("600/h", 10.0),
        ("0", 0.0),
        ("1.5/min", 1.5),
        ("30/minute", 30.0),
        ("3/SEC", 180.0),
    ],
)
def test_rates(text: str, per_minute: float) -> None:
    assert parse_rate(text) == pytest.approx(per_minute)


@pytest.mark.parametrize("text", ["", "fast", "-1/min", "10/day", "10/", "/min", "1/min/s"])
def test_bad_rates(text: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        parse_rate(text)
    assert caught.value.reason == "bad_rate"


def test_networks() -> None:
    assert parse_network("127.0.0.1/32") == "127.0.0.1/32"
    assert parse_network("127.0.0.1") == "127.0.0.1/32"
    assert parse_network("10.1.2.3/8") == "10.0.0.0/8"
    assert parse_network("::1") == "::1/128"
    with pytest.raises(InvalidInput) as caught:
        parse_network("localhost")
    assert caught.value.reason == "bad_network"


def test_counts_and_quality() -> None:
    assert parse_positive("4") == 4
    assert parse_quality("85") == 85
    for bad in ("0", "-2", "two"):
        with pytest.raises(InvalidInput):
            parse_positive(bad)
    for bad in ("0", "101", "x"):
        with pytest.raises(InvalidInput):
            parse_quality(bad)


def test_render_options_from_flags() -> None:
    assert build_options(RenderFlags(320, 240)) == RenderOptions(width=320, height=240)
    fit = build_options(RenderFlags(320, 0, fit_in=True, format="webp", quality=70))
    assert (fit.fit, fit.width, fit.height, fit.format, fit.quality) == (
        "fit-in",
        320,
        0,
        "webp",
        70,
    )
    smart = build_options(RenderFlags(100, 100, smart=True))
    assert smart.smart and smart.fit == "crop"
