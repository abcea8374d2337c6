"""Deterministic benchmark corpus built from the photographs shipped inside scikit-image.

scikit-image's `skimage.data` package carries a handful of real photographs (astronaut,
coffee, chelsea the cat, a rocket launch, ...) as small files. We crop each to 4:3, scale it
with pyvips to camera sizes and add a fixed, seeded film grain so the JPEGs carry about the
entropy of a real camera photo (an upscaled 512 px image alone is unnaturally smooth and
decodes faster than a real 12 MP photo would). Output:

- ``jpeg12-<name>.jpg``: 4000x3000 JPEG q90, 4:2:0 chroma (as most cameras write),
- ``jpeg2-<name>.jpg``: 1600x1200 JPEG q90,
- ``png2-<name>.png``: 1600x1200 PNG,
- ``anim-chelsea.gif``: an 8-frame animated GIF, 480x360.

The same library versions produce the same bytes every run; `manifest.json` records the
SHA-256 of each file so a run can tell whether its corpus is the expected one.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass
from pathlib import Path

# Bump when the generator changes, so stale corpora are rebuilt.
CORPUS_VERSION = 3

# Colour photographs shipped in skimage/data (plus `camera`, a grey photo made sRGB).
PHOTOS: tuple[str, ...] = (
    "astronaut.png",
    "coffee.png",
    "chelsea.png",
    "rocket.jpg",
    "motorcycle_left.png",
    "hubble_deep_field.jpg",
    "retina.jpg",
    "ihc.png",
    "motorcycle_right.png",
    "camera.png",
)
PNG_COUNT = 10
LARGE = (4000, 3000)
SMALL = (1600, 1200)
GRAIN_SIGMA = 5.0
GIF_FRAMES = 8
GIF_SIZE = (480, 360)


@dataclass(frozen=True)
class CorpusFile:
    """One file of the corpus."""

    name: str
    kind: str  # "jpeg12", "jpeg2", "png2" or "gif"
    width: int
    height: int
    bytes: int
    sha256: str


def skimage_data_dir() -> Path:
    """The folder where scikit-image keeps its shipped sample images."""
    import skimage

    return Path(skimage.__file__).parent / "data"


def _crop_4_3(image: object) -> object:
    """Centre-crop to a 4:3 landscape frame."""
    width, height = image.width, image.height  # type: ignore[attr-defined]
    if width * 3 >= height * 4:
        new_w, new_h = height * 4 // 3, height
    else:
        new_w, new_h = width, width * 3 // 4
    left, top = (width - new_w) // 2, (height - new_h) // 2
    return image.crop(left, top, new_w, new_h)  # type: ignore[attr-defined]


def _photo(name: str, size: tuple[int, int], seed: int) -> object:
    """Load one shipped photo as sRGB, crop to 4:3, scale to `size` and add seeded grain."""
    import pyvips

    image = pyvips.Image.new_from_file(str(skimage_data_dir() / name), access="sequential")
    image = image.copy_memory()
    if image.hasalpha():
        image = image.flatten(background=[255, 255, 255])
    if image.bands == 1:
        image = image.colourspace("srgb")
    image = _crop_4_3(image)
    scale_x = size[0] / image.width
    scale_y = size[1] / image.height
    image = image.resize(scale_x, vscale=scale_y, kernel="lanczos3")
    # Luminance grain with a fixed seed: deterministic, photo-like entropy.
    noise = pyvips.Image.gaussnoise(size[0], size[1], sigma=GRAIN_SIGMA, mean=0, seed=seed)
    image = (image + noise).cast("uchar")
    return image.copy(interpretation="srgb")


def _animated_gif(name: str) -> bytes:
    """An animated GIF: a slow pan over one photo, `GIF_FRAMES` frames."""
    import pyvips

    base = _photo(name, (GIF_SIZE[0] + 8 * GIF_FRAMES, GIF_SIZE[1]), seed=999)
    frames = [
        base.crop(8 * i, 0, GIF_SIZE[0], GIF_SIZE[1])  # type: ignore[attr-defined]
        for i in range(GIF_FRAMES)
    ]
    strip = pyvips.Image.arrayjoin(frames, across=1)
    strip = strip.copy()
    strip.set_type(pyvips.GValue.gint_type, "page-height", GIF_SIZE[1])
    strip.set_type(pyvips.GValue.array_int_type, "delay", [100] * GIF_FRAMES)
    strip.set_type(pyvips.GValue.gint_type, "loop", 0)
    return bytes(strip.gifsave_buffer(keep="none", dither=0.0))


def _stem(photo: str) -> str:
    return photo.rsplit(".", 1)[0]


def _plan() -> list[tuple[str, str, object]]:
    """(file name, kind, builder) for every corpus file, in a fixed order."""
    plan: list[tuple[str, str, object]] = []
    for index, photo in enumerate(PHOTOS):
        stem = _stem(photo)
        plan.append((f"jpeg12-{stem}.jpg", "jpeg12", (photo, LARGE, index + 1, "jpeg")))
        plan.append((f"jpeg2-{stem}.jpg", "jpeg2", (photo, SMALL, index + 101, "jpeg")))
        if index < PNG_COUNT:
            plan.append((f"png2-{stem}.png", "png2", (photo, SMALL, index + 201, "png")))
    plan.append(("anim-chelsea.gif", "gif", ("chelsea.png", GIF_SIZE, 999, "gif")))
    return plan


def _encode(spec: object) -> bytes:
    photo, size, seed, fmt = spec  # type: ignore[misc]
    if fmt == "gif":
        return _animated_gif(photo)
    image = _photo(photo, size, seed)
    if fmt == "jpeg":
        return bytes(
            image.jpegsave_buffer(  # type: ignore[attr-defined]
                Q=90, subsample_mode="on", keep="none", optimize_coding=False
            )
        )
    return bytes(image.pngsave_buffer(compression=6, keep="none"))  # type: ignore[attr-defined]


def load_manifest(root: Path) -> list[CorpusFile] | None:
    """The manifest of an existing corpus, or None if absent or from another generator."""
    path = root / "manifest.json"
    if not path.exists():
        return None
    data = json.loads(path.read_text())
    if data.get("version") != CORPUS_VERSION:
        return None
    files = [CorpusFile(**item) for item in data["files"]]
    for item in files:
        if not (root / item.name).exists() or (root / item.name).stat().st_size != item.bytes:
            return None
    return files


def build_corpus(root: Path, *, force: bool = False) -> list[CorpusFile]:
    """Write the corpus under `root` (reusing a complete one) and return its manifest."""
    import pyvips

    if not force:
        existing = load_manifest(root)
        if existing is not None:
            return existing
    root.mkdir(parents=True, exist_ok=True)
    files: list[CorpusFile] = []
    for name, kind, spec in _plan():
        data = _encode(spec)
        (root / name).write_bytes(data)
        header = pyvips.Image.new_from_buffer(data, "")
        files.append(
            CorpusFile(
                name=name,
                kind=kind,
                width=header.width,
                height=header.get_page_height(),
                bytes=len(data),
                sha256=hashlib.sha256(data).hexdigest(),
            )
        )
    manifest = {
        "version": CORPUS_VERSION,
        "libvips": f"{pyvips.version(0)}.{pyvips.version(1)}.{pyvips.version(2)}",
        "files": [asdict(item) for item in files],
    }
    (root / "manifest.json").write_text(json.dumps(manifest, indent=1))
    return files


def main() -> None:
    """Build the corpus into bench/.work/corpus and print it (``--force`` rebuilds)."""
    import sys

    root = Path(__file__).resolve().parents[1] / ".work" / "corpus"
    for item in build_corpus(root, force="--force" in sys.argv):
        print(f"{item.name:32} {item.width}x{item.height} {item.bytes:>9} {item.sha256[:12]}")


if __name__ == "__main__":
    main()
