"""What the benchmark asks for: the scenarios and the repeat-heavy Zipf mix (pure functions)."""

from __future__ import annotations

import random
from dataclasses import dataclass

QUALITY = 85
BOX = "fit-in/320x240"


@dataclass(frozen=True)
class Scenario:
    """One measured workload: which corpus files, which options, which output format."""

    key: str
    title: str
    kinds: tuple[str, ...]  # corpus kinds the sources are drawn from
    options: tuple[str, ...]  # thumbor option strings (before the source)
    output: str  # expected output format
    cached: bool = False


UNCACHED: tuple[Scenario, ...] = (
    Scenario(
        "jpeg_to_jpeg",
        "12 MP JPEG -> JPEG q85",
        ("jpeg12",),
        (f"{BOX}/filters:quality({QUALITY})",),
        "jpeg",
    ),
    Scenario(
        "jpeg_to_webp",
        "12 MP JPEG -> WebP q85",
        ("jpeg12",),
        (f"{BOX}/filters:quality({QUALITY}):format(webp)",),
        "webp",
    ),
    Scenario(
        "png_to_png",
        "2 MP PNG -> PNG",
        ("png2",),
        (f"{BOX}/filters:quality({QUALITY})",),
        "png",
    ),
)

# Five sizes for the repeat-heavy mix: three fit-in boxes, a square crop, a width-only resize.
ZIPF_SIZES: tuple[str, ...] = (
    "fit-in/320x240",
    "fit-in/160x120",
    "fit-in/640x480",
    "100x100",
    "400x0",
)

CACHED = Scenario(
    "zipf_cached",
    "cached Zipf mix (20 images x 5 sizes, s=1.1)",
    ("jpeg12", "jpeg2"),
    tuple(f"{size}/filters:quality({QUALITY})" for size in ZIPF_SIZES),
    "jpeg",
    cached=True,
)


def zipf_sequence(items: int, length: int, s: float = 1.1, seed: int = 20261122) -> list[int]:
    """`length` draws over `items` ids, Zipf-distributed with exponent `s`, reproducibly.

    Which id gets which rank is a seeded shuffle, so popularity does not follow the
    corpus order (the largest files are not always the hottest).
    """
    if items <= 0 or length < 0:
        raise ValueError("items must be positive and length non-negative")
    rng = random.Random(seed)
    ranked = list(range(items))
    rng.shuffle(ranked)
    weights = [1.0 / (rank + 1) ** s for rank in range(items)]
    total = 0.0
    cumulative = []
    for weight in weights:
        total += weight
        cumulative.append(total)
    return [ranked[rank] for rank in rng.choices(range(items), cum_weights=cumulative, k=length)]


def pairs(sources: list[str], options: tuple[str, ...]) -> list[tuple[str, str]]:
    """Every (options, source) pair, options-major: the request catalogue of a scenario."""
    return [(option, source) for option in options for source in sources]
