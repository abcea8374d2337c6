"""The `confab thumbs` command line: its flags, checked as they are parsed.

Apart from `command` (which runs it) so that building the `confab` parser, which every
command does, loads neither the batch pipeline nor rich.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path

from confab.core.errors import InvalidInput
from confab.media.batch.flags import (
    parse_network,
    parse_port,
    parse_positive,
    parse_quality,
    parse_rate,
    parse_size,
)
from confab.media.domain.options import OUTPUT_FORMATS

DESCRIPTION = """Turn a list of image URLs, files and folders into thumbnails.

Exit codes: 0 when every source has its thumbnail (rendered now or by an earlier run),
1 when some failed (each reported with its reason code), 2 on a usage error, 130 when
interrupted (Ctrl-C), which leaves finished outputs in place and no partial file.
"""
JSON_TO_STDOUT = "-"


def _flag_type(parse: Callable[[str], object], name: str) -> Callable[[str], object]:
    """An argparse `type=` that reports our parsers' InvalidInput as a usage error."""

    def convert(text: str) -> object:
        try:
            return parse(text)
        except InvalidInput as exc:
            raise argparse.ArgumentTypeError(exc.detail) from None

    convert.__name__ = name  # argparse names the type in its messages
    return convert


def add_thumbs_parser(
    subparsers: argparse._SubParsersAction[argparse.ArgumentParser],
) -> argparse.ArgumentParser:
    """Add the `thumbs` subcommand and its flags to the `confab` parser."""
    parser = subparsers.add_parser(
        "thumbs",
        help="make thumbnails of image URLs, files and folders",
        description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("sources", nargs="*", metavar="SOURCE", help="URL, image file or folder")
    parser.add_argument(
        "-i", "--input", metavar="FILE", help="read sources from FILE, one per line (- for stdin)"
    )
    parser.add_argument(
        "-o",
        "--out",
        required=True,
        type=Path,
        metavar="DIR",
        help="output folder (created if missing)",
    )
    parser.add_argument(
        "--size",
        required=True,
        type=_flag_type(parse_size, "size"),
        metavar="WxH",
        help="thumbnail size; 0 keeps the aspect ratio (320x0)",
    )
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--fit-in", action="store_true", help="fit inside WxH without cropping")
    mode.add_argument("--smart", action="store_true", help="crop on the interesting part")
    parser.add_argument(
        "--format", choices=OUTPUT_FORMATS, help="output format (default: the source's format)"
    )
    parser.add_argument(
        "--quality",
        type=_flag_type(parse_quality, "quality"),
        metavar="N",
        help="encoder quality 1..100",
    )
    parser.add_argument(
        "--concurrency",
        type=_flag_type(parse_positive, "count"),
        metavar="N",
        help="URL fetches at once (CONFAB_MEDIA_FETCH_CONCURRENCY)",
    )
    parser.add_argument(
        "--per-host",
        type=_flag_type(parse_positive, "count"),
        metavar="N",
        help="URL fetches at once per host (CONFAB_MEDIA_FETCH_PER_HOST)",
    )
    parser.add_argument(
        "--rate",
        type=_flag_type(parse_rate, "rate"),
        metavar="N/min",
        help="fetches per minute per host, e.g. 120/min or 2/s (0: no limit)",
    )
    parser.add_argument(
        "--processes",
        type=_flag_type(parse_positive, "count"),
        metavar="N",
        help="render processes (default: one per core); with --jobs-url, the renders in "
        "flight are twice this",
    )
    parser.add_argument(
        "--jobs-url",
        metavar="URL",
        help="render on Celery workers (`confab worker`) through this broker, redis://... or "
        "amqp://... (CONFAB_JOBS_URL); they must see CONFAB_BLOBS_URL too",
    )
    parser.add_argument(
        "--allow-network",
        action="append",
        default=[],
        metavar="CIDR",
        type=_flag_type(parse_network, "network"),
        help="allow fetching from this private network (repeatable)",
    )
    parser.add_argument(
        "--allow-port",
        action="append",
        default=[],
        metavar="PORT",
        type=_flag_type(parse_port, "port"),
        help="allow fetching from this port or range (9000-9100) besides 80 and 443 (repeatable)",
    )
    parser.add_argument(
        "--json",
        nargs="?",
        const=JSON_TO_STDOUT,
        metavar="FILE",
        help="write a JSON report to FILE (alone or '-': stdout, other output "
        "goes to stderr); put it after the sources or write --json=FILE",
    )
    return parser
