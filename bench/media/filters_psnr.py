"""How close Confab's filters are to thumbor 7.8's: PSNR of the same URL on both servers.

    python bench/media/filters_psnr.py [--images N] [--filters brightness,sharpen]

Each filter (thumbor's documented example arguments) is applied to N photos of the 2 MP
JPEG corpus, fit-in/320x240, written as PNG by both servers (lossless, so only the filter
and the resize differ); PSNR in dB over the RGB channels, the median over the photos, is
printed and written to bench/media/filters_psnr.json (which
tests/unit/test_filter_closeness.py reads: a filter under 30 dB must be justified there).
The resize alone (no filter) is the baseline: no filter can be closer than it.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.media import filterset  # noqa: E402
from bench.media.corpus import build_corpus  # noqa: E402
from bench.media.equivalence import fetch, psnr  # noqa: E402
from bench.media.servers import ensure_thumbor  # noqa: E402

WORK = ROOT / "bench" / ".work"
OUT = Path(__file__).with_name("filters_psnr.json")
BASELINE = "quality(85)"


def main(argv: list[str] | None = None) -> int:
    """Measure and print; exit 0 when it ran (the test judges the figures)."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    filterset.common_args(parser)
    parser.add_argument("--images", type=int, default=4, help="2 MP photos per filter (4)")
    args = parser.parse_args(argv)
    corpus_dir = WORK / "corpus"
    corpus = build_corpus(corpus_dir)
    filterset.write_mark(corpus_dir)
    version = ensure_thumbor(WORK / "thumbor-venv")
    photos = [item.name for item in corpus if item.kind == "jpeg2"][: args.images]
    wanted = (BASELINE, *filterset.ALL_FILTERS)
    if args.filters:
        prefixes = tuple(args.filters.split(","))
        wanted = tuple(f for f in wanted if f.startswith(prefixes))
    servers = filterset.start(["confab", "thumbor"], WORK / "psnr", corpus_dir, corpus, 2)
    results: dict[str, dict[str, object]] = {}
    try:
        confab, thumbor = servers["confab"], servers["thumbor"]
        for filter_call in wanted:
            values = []
            for photo in photos:
                ours = fetch(
                    confab.base
                    + confab.path(filterset.options_for(confab, filter_call, fmt="png"), photo)
                )
                theirs = fetch(
                    thumbor.base
                    + thumbor.path(filterset.options_for(thumbor, filter_call, fmt="png"), photo)
                )
                if ours[0] != 200 or theirs[0] != 200:
                    print(f"  {filter_call}: status confab {ours[0]}, thumbor {theirs[0]}")
                    continue
                values.append(psnr(ours[1], theirs[1]))
            finite = [v for v in values if v == v]  # NaN: sizes differ
            median = statistics.median(finite) if finite else float("nan")
            results[filter_call] = {"psnr_db": round(median, 2), "photos": len(values)}
            print(f"  {filter_call:60} {median:6.2f} dB  ({len(finite)}/{len(photos)} photos)")
    finally:
        for server in servers.values():
            server.stop()
    if args.filters and OUT.exists():
        # A subset updates its filters in the full table rather than replacing it.
        results = {**json.loads(OUT.read_text())["psnr"], **results}
    OUT.write_text(
        json.dumps(
            {
                "command": "python bench/media/filters_psnr.py " + " ".join(argv or sys.argv[1:]),
                "when": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
                "thumbor": version,
                "box": filterset.BOX,
                "baseline": BASELINE,
                "psnr": results,
            },
            indent=1,
        )
        + "\n"
    )
    print(f"written to {OUT.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
