"""CPU per render, one process: Confab's renderer against Pillow in draft mode (thumbor's engine).

    .venv/bin/python -m bench.media.render_cpu [--corpus DIR] [--rounds N] [--explore]

For each case (12 MP JPEG -> fit-in/320x240 JPEG q85, the same -> WebP q85, 2 MP PNG ->
PNG 320x240) it renders every corpus file with each variant, round after round, the
variants interleaved so background load hits them alike, and prints the median and the
minimum CPU milliseconds per render (`time.process_time`: every thread of the process).

The Pillow variants do what thumbor's PIL engine does: `Image.open` on the bytes,
`draft()` (JPEG decoded at 1/2, 1/4 or 1/8 scale in the DCT), a LANCZOS resize, `save`.
"pillow (draft)" saves a baseline JPEG like ours; "pillow as thumbor saves" adds the
`optimize=True, progressive=True` thumbor passes by default (PROGRESSIVE_JPEG = True).
It first prints the bare decode of the 12 MP JPEGs at 1/8 scale by each library: the
floor under the JPEG cases, since no renderer spends less CPU than its decoder.
`--explore` adds a plain pyvips `thumbnail()` and variants of our settings (libvips
threads, resampling kernel, WebP effort) to show why the defaults are what they are.
"""

from __future__ import annotations

import argparse
import io
import statistics
import time
from collections.abc import Callable
from pathlib import Path

import pyvips
from bench.media.corpus import build_corpus
from PIL import Image

from confab.media.domain.options import OutputFormat, RenderOptions
from confab.media.imaging import encoding, shaping
from confab.media.imaging.limits import RenderLimits
from confab.media.imaging.tasks import init_worker, render

BOX = (320, 240)
QUALITY = 85
Variant = Callable[[str], bytes]


def pillow(path: str, fmt: str, *, thumbor_save: bool = False) -> bytes:
    """thumbor's PIL engine path: open the bytes, draft, LANCZOS resize, save."""
    image = Image.open(io.BytesIO(Path(path).read_bytes()))
    width, height = image.size
    scale = min(BOX[0] / width, BOX[1] / height)
    size = (round(width * scale), round(height * scale))
    image.draft(None, size)
    image = image.resize(size, Image.Resampling.LANCZOS)
    out = io.BytesIO()
    if fmt == "PNG":
        image.save(out, "PNG", compress_level=6)
    elif fmt == "JPEG" and thumbor_save:
        image.save(out, "JPEG", quality=QUALITY, optimize=True, progressive=True)
    else:
        image.save(out, fmt, quality=QUALITY)
    return out.getvalue()


def confab(path: str, fmt: OutputFormat | None) -> bytes:
    """Our renderer, as the media service calls it for an uploaded file."""
    options = RenderOptions(width=BOX[0], height=BOX[1], fit="fit-in", quality=QUALITY, format=fmt)
    return render(path, options, (), RenderLimits()).data


def naive(path: str, fmt: OutputFormat | None) -> bytes:
    """A plain pyvips thumbnailer: `thumbnail()` (it leaves 2x for its Lanczos resize, so a
    12 MP JPEG is decoded at 1/4 scale, not 1/8), then save."""
    image = pyvips.Image.thumbnail(path, BOX[0], height=BOX[1])
    if fmt == "webp":
        return bytes(image.webpsave_buffer(Q=QUALITY))
    if fmt == "jpeg":
        return bytes(image.jpegsave_buffer(Q=QUALITY))
    return bytes(image.pngsave_buffer())


def decode_vips(path: str) -> bytes:
    """Decode only, as our renderer does for a 320x240 box: 1/8 scale in the DCT."""
    pyvips.Image.jpegload(path, shrink=8, access="sequential").avg()
    return b""


def decode_pillow(path: str) -> bytes:
    """Decode only, as thumbor's PIL engine does: `draft()` to 1/8 scale, then load."""
    image = Image.open(io.BytesIO(Path(path).read_bytes()))
    image.draft("RGB", (image.width // 8, image.height // 8))
    image.load()
    return b""


def tuned(
    fn: Variant, *, threads: int = 1, kernel: str | None = None, effort: int | None = None
) -> Variant:
    """`fn` with one of our settings changed for the duration of the call."""

    def run(path: str) -> bytes:
        saved = shaping.KERNEL, encoding.WEBP_EFFORT
        pyvips.concurrency_set(threads)
        shaping.KERNEL = kernel or shaping.KERNEL
        encoding.WEBP_EFFORT = encoding.WEBP_EFFORT if effort is None else effort
        try:
            return fn(path)
        finally:
            shaping.KERNEL, encoding.WEBP_EFFORT = saved
            pyvips.concurrency_set(1)

    return run


def measure(variants: dict[str, Variant], files: list[str], rounds: int) -> dict[str, list[float]]:
    """CPU ms per render of each variant, one sample per round."""
    for fn in variants.values():  # warm-up: imports, loader setup, page cache
        for path in files:
            fn(path)
    samples: dict[str, list[float]] = {name: [] for name in variants}
    for _ in range(rounds):
        for name, fn in variants.items():
            started = time.process_time()
            for path in files:
                fn(path)
            samples[name].append((time.process_time() - started) / len(files) * 1000)
    return samples


def main() -> None:
    """Run every case and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    default = Path(__file__).resolve().parents[1] / ".work" / "corpus"
    parser.add_argument("--corpus", type=Path, default=default)
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--explore", action="store_true")
    args = parser.parse_args()
    build_corpus(args.corpus)  # reuses a complete corpus
    init_worker(0, ())  # what every render worker process runs first
    jpegs = sorted(str(p) for p in args.corpus.glob("jpeg12-*.jpg"))
    pngs = sorted(str(p) for p in args.corpus.glob("png2-*.png"))
    print(
        f"libvips {pyvips.version(0)}.{pyvips.version(1)}.{pyvips.version(2)}, "
        f"Pillow {Image.__version__}; {len(jpegs)} 12 MP JPEGs, {len(pngs)} 2 MP PNGs; "
        f"{args.rounds} rounds"
    )
    cases: list[tuple[str, list[str], str, OutputFormat | None]] = [
        ("12 MP JPEG -> fit-in/320x240 JPEG q85", jpegs, "JPEG", "jpeg"),
        ("12 MP JPEG -> fit-in/320x240 WebP q85", jpegs, "WEBP", "webp"),
        ("2 MP PNG -> fit-in/320x240 PNG", pngs, "PNG", None),
    ]
    # The floor under every JPEG case: no renderer can spend less than its decoder.
    decoding = measure(
        {"pillow draft decode": decode_pillow, "libvips shrink=8 decode": decode_vips},
        jpegs,
        args.rounds,
    )
    print("\n12 MP JPEG decoded at 1/8 scale, nothing else   CPU ms: median / min")
    for name, values in decoding.items():
        print(f"  {name:28s} {statistics.median(values):7.2f} / {min(values):6.2f}")
    for title, files, pil_fmt, fmt in cases:
        ours: Variant = tuned(lambda p, f=fmt: confab(p, f))
        variants: dict[str, Variant] = {
            "pillow (draft)": lambda p, f=pil_fmt: pillow(p, f),
            "confab": ours,
        }
        if pil_fmt == "JPEG":
            variants["pillow as thumbor saves"] = lambda p: pillow(p, "JPEG", thumbor_save=True)
        if args.explore:
            variants["plain pyvips thumbnail()"] = lambda p, f=fmt: naive(p, f)
            variants["confab, 2 libvips threads"] = tuned(lambda p, f=fmt: confab(p, f), threads=2)
            variants["confab, linear kernel"] = tuned(
                lambda p, f=fmt: confab(p, f), kernel="linear"
            )
            if fmt == "webp":
                variants["confab, webp effort 4"] = tuned(lambda p, f=fmt: confab(p, f), effort=4)
        samples = measure(variants, files, args.rounds)
        base = statistics.median(samples["pillow (draft)"])
        print(f"\n{title}   CPU ms per render: median / min")
        for name, values in samples.items():
            median = statistics.median(values)
            size = len(variants[name](files[0]))
            print(
                f"  {name:28s} {median:7.2f} / {min(values):6.2f}   "
                f"{median / base:5.2f}x pillow   {size} bytes (first file)"
            )


if __name__ == "__main__":
    main()
