"""Parsing the values of `confab thumbs` flags into plain data.

Each parser raises InvalidInput with a reason code naming the flag's problem; the
command turns that into a usage error (exit 2) with the message, never a traceback.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass

from confab.core.errors import InvalidInput
from confab.media.domain.options import Fit, OutputFormat, RenderOptions
from confab.media.fetch.addresses import parse_ports

_SIZE = re.compile(r"^\s*(\d*)\s*[xX]\s*(\d*)\s*$")
_RATE = re.compile(r"^\s*(\d+(?:\.\d*)?|\.\d+)\s*(?:/\s*(s|sec|second|m|min|minute|h|hour))?\s*$")
_PER_MINUTE = {
    None: 1.0,
    "s": 60.0,
    "sec": 60.0,
    "second": 60.0,
    "m": 1.0,
    "min": 1.0,
    "minute": 1.0,
    "h": 1 / 60,
    "hour": 1 / 60,
}
MAX_SIDE = 16384


def parse_size(text: str) -> tuple[int, int]:
    """`WxH` as (width, height); 0 or an empty side keeps the aspect ratio (`320x`, `x240`).

    Raises InvalidInput(code="bad_size") for anything else, or when both sides are 0.
    """
    match = _SIZE.match(text)
    if match is None:
        raise InvalidInput(f"size {text!r} is not WxH (e.g. 320x240, 320x0)", code="bad_size")
    width, height = (int(part) if part else 0 for part in match.groups())
    if width == 0 and height == 0:
        raise InvalidInput(f"size {text!r}: give at least one side", code="bad_size")
    if width > MAX_SIDE or height > MAX_SIDE:
        raise InvalidInput(f"size {text!r}: sides are at most {MAX_SIDE}", code="bad_size")
    return width, height


def parse_rate(text: str) -> float:
    """A rate like `120/min`, `2/s`, `600/h` or a bare number (per minute), as per minute.

    0 means no limit. Raises InvalidInput(code="bad_rate") for anything else.
    """
    match = _RATE.match(text.lower())
    if match is None:
        raise InvalidInput(
            f"rate {text!r} is not N/min (e.g. 120/min, 2/s, 600/h)", code="bad_rate"
        )
    number, unit = match.groups()
    return float(number) * _PER_MINUTE[unit]


def parse_port(text: str) -> str:
    """A port ("8080") or an inclusive range ("9000-9100"), checked; InvalidInput else."""
    parse_ports([text])
    return text.strip()


def parse_network(text: str) -> str:
    """A CIDR (or a bare address) in its normalized form, e.g. `127.0.0.1/32`.

    Raises InvalidInput(code="bad_network") for anything else.
    """
    try:
        return str(ipaddress.ip_network(text.strip(), strict=False))
    except ValueError:
        raise InvalidInput(
            f"network {text!r} is not a CIDR (e.g. 127.0.0.1/32, 10.0.0.0/8)", code="bad_network"
        ) from None


def parse_positive(text: str) -> int:
    """A whole number >= 1 (counts of workers and connections)."""
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise InvalidInput(f"{text!r} is not a whole number >= 1", code="bad_number")
    return value


def parse_quality(text: str) -> int:
    """A JPEG/WebP/AVIF quality, 1 to 100."""
    try:
        value = int(text)
    except ValueError:
        value = 0
    if not 1 <= value <= 100:
        raise InvalidInput(f"quality {text!r} is not a whole number in 1..100", code="bad_quality")
    return value


@dataclass(frozen=True, slots=True)
class RenderFlags:
    """The flags that shape the output image."""

    width: int
    height: int
    fit_in: bool = False
    smart: bool = False
    format: OutputFormat | None = None
    quality: int | None = None


def build_options(flags: RenderFlags) -> RenderOptions:
    """The render options the flags stand for (thumbor's meaning, like the HTTP API)."""
    fit: Fit = "fit-in" if flags.fit_in else "crop"
    return RenderOptions(
        width=flags.width,
        height=flags.height,
        fit=fit,
        smart=flags.smart,
        format=flags.format,
        quality=flags.quality,
    )
