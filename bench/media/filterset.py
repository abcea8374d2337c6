"""thumbor's filters as the filter benchmarks ask for them: the catalogue, the watermark
image, and both servers started on the same corpus (shared by filters_psnr.py and
filters_round.py)."""

from __future__ import annotations

import argparse
from pathlib import Path

from bench.media.corpus import CorpusFile
from bench.media.servers import Confab, Server, Thumbor

BOX = "fit-in/320x240"
MARK = "watermark.png"  # written into the corpus folder: thumbor's file loader reads it there
MARK_SLOT = "{mark}"
CURVE = "[(0,0),(40,59),(255,255)],[(0,0),(255,255)],[(0,0),(128,150),(255,255)],[(0,0),(255,255)]"

# Every filter of thumbor 7.8 that changes pixels (PSNR), with thumbor's documented
# examples as arguments.
ALL_FILTERS: tuple[str, ...] = (
    "brightness(40)",
    "contrast(40)",
    "contrast(-40)",
    "equalize()",
    "rotate(90)",
    "noise(40)",
    "rgb(20,-20,40)",
    "round_corner(20,255,255,255)",
    "round_corner(20|40,0,0,0)",
    "sharpen(2,1.0,true)",
    "sharpen(2,1.0,false)",
    "saturation(1.5)",
    "colorize(10,20,30,ffff00)",
    "convolution(1;2;1;2;4;2;1;2;1,3,true)",
    "convolution(-1;-1;-1;-1;8;-1;-1;-1;-1,3,false)",
    f"curve({CURVE})",
    f"watermark({MARK_SLOT},-10,-10,50)",
    f"watermark({MARK_SLOT},center,center,0,30,30)",
    f"watermark({MARK_SLOT},repeat,repeat,50)",
    "proportion(0.5)",
    "blur(3)",
    "grayscale()",
    "fill(ff0000)",
)

# The filter round: the ten most used (the issue names watermark, round_corner, sharpen,
# brightness and rotate; the rest are the commonest in thumbor deployments' URLs).
ROUND_FILTERS: tuple[str, ...] = (
    f"watermark({MARK_SLOT},-10,-10,50)",
    "round_corner(20,255,255,255)",
    "sharpen(2,1.0,true)",
    "brightness(40)",
    "rotate(90)",
    "contrast(40)",
    "blur(3)",
    "grayscale()",
    "rgb(20,-20,40)",
    "saturation(1.5)",
)


def write_mark(corpus_dir: Path) -> None:
    """A 120x60 half-transparent logo-like PNG (white disc on red) for watermark()."""
    import pyvips

    target = corpus_dir / MARK
    if target.exists():
        return
    xy = pyvips.Image.xyz(120, 60)
    disc = (((xy[0] - 60) ** 2 + (xy[1] - 30) ** 2) < 25**2).ifthenelse(
        [255, 255, 255], [200, 0, 0]
    )
    image = disc.bandjoin_const([180]).cast("uchar").copy(interpretation="srgb")
    image.pngsave(str(target))


def options_for(server: Server, filter_call: str, box: str = BOX, fmt: str | None = None) -> str:
    """The options string of one filter on `server` (the watermark named its own way)."""
    if MARK_SLOT in filter_call:
        mark = f"upload/{server.ids[MARK]}" if isinstance(server, Confab) else MARK
        filter_call = filter_call.replace(MARK_SLOT, mark)
    filters = filter_call if fmt is None else f"{filter_call}:format({fmt})"
    if filter_call.startswith("fill("):
        box = box.replace("320x240", "320x320")
    return f"{box}/filters:{filters}"


def start(
    names: list[str], work: Path, corpus_dir: Path, corpus: list[CorpusFile], processes: int
) -> dict[str, Server]:
    """Start thumbor and Confab (no result caches) with the corpus and the mark in place."""
    servers: dict[str, Server] = {}
    for name in names:
        server: Server
        if name == "thumbor":
            server = Thumbor(work, processes, work.parent / "thumbor-venv", corpus_dir, False)
        else:
            server = Confab(work, processes, False)
        server.start()
        server.prepare(corpus_dir, [item.name for item in corpus if item.kind == "jpeg2"])
        server.prepare(corpus_dir, [MARK])
        servers[name] = server
    return servers


def common_args(parser: argparse.ArgumentParser) -> None:
    """Flags both filter benchmarks take."""
    parser.add_argument("--servers", default="confab,thumbor")
    parser.add_argument("--processes", type=int, default=2, help="render processes each (2)")
    parser.add_argument("--filters", help="comma-separated subset (by name prefix)")
