"""Output names of `confab thumbs`: stable, collision-free, tied to source and options."""

from __future__ import annotations

import re
from pathlib import Path

from confab.media.batch.naming import (
    base_name,
    existing_output,
    output_path,
    output_stem,
    slugify,
)
from confab.media.batch.sources import Source
from confab.media.domain.options import RenderOptions

OPTS = RenderOptions(width=320, height=240)


def url(value: str) -> Source:
    return Source("url", value, value)


def test_slugify() -> None:
    assert slugify("Holiday Photo (1)") == "holiday-photo-1"
    assert slugify("ÉTÉ 2024!!") == "t-2024"
    assert slugify("???") == "image"
    assert len(slugify("x" * 200)) == 40


def test_base_name_of_urls_and_files() -> None:
    assert base_name(url("https://h.example/a/My%20Cat.JPG?size=2")) == "My Cat"
    assert base_name(url("https://h.example/")) == "h.example"
    assert base_name(url("http://[::1/a.jpg")) == ""  # unparsable: named by its hash only
    assert output_stem(url("http://[::1/a.jpg"), OPTS).startswith("image-")
    assert base_name(Source("file", "/data/photos/beach.tar.jpg", "beach.tar.jpg")) == "beach.tar"
    assert base_name(Source("file", "/data/photos/README", "README")) == "README"


def test_names_are_stable_and_shaped() -> None:
    source = url("https://h.example/cat.jpg")
    stem = output_stem(source, OPTS)
    assert stem == output_stem(url("https://h.example/cat.jpg"), RenderOptions(320, 240))
    assert re.fullmatch(r"cat-[0-9a-f]{12}", stem)
    assert output_path(Path("/out"), stem, "jpeg") == Path(f"/out/{stem}.jpg")
    assert output_path(Path("/out"), stem, "webp").suffix == ".webp"


def test_names_do_not_collide() -> None:
    same_basename = [
        url("https://a.example/cat.jpg"),
        url("https://b.example/cat.jpg"),
        url("https://a.example/x/cat.jpg"),
        Source("file", "/photos/cat.jpg", "cat.jpg"),
        Source("file", "/other/cat.jpg", "cat.jpg"),
    ]
    stems = {output_stem(s, OPTS) for s in same_basename}
    assert len(stems) == len(same_basename)
    cat = same_basename[0]
    variants = [
        OPTS,
        RenderOptions(width=320, height=241),
        RenderOptions(width=320, height=240, fit="fit-in"),
        RenderOptions(width=320, height=240, smart=True),
        RenderOptions(width=320, height=240, format="webp"),
        RenderOptions(width=320, height=240, quality=80),
    ]
    assert len({output_stem(cat, o) for o in variants}) == len(variants)


def test_a_url_and_a_file_with_the_same_text_differ() -> None:
    assert output_stem(Source("url", "/x/cat.jpg", "a"), OPTS) != output_stem(
        Source("file", "/x/cat.jpg", "a"), OPTS
    )


def test_existing_output_is_found_for_any_format_when_none_asked(tmp_path: Path) -> None:
    stem = "cat-0123456789ab"
    assert existing_output(tmp_path, stem, None) is None
    (tmp_path / f"{stem}.png").write_bytes(b"x")
    assert existing_output(tmp_path, stem, None) == tmp_path / f"{stem}.png"
    assert existing_output(tmp_path, stem, "png") == tmp_path / f"{stem}.png"
    assert existing_output(tmp_path, stem, "webp") is None
    # A temporary file of an interrupted run is not a finished output.
    (tmp_path / f".{stem}.abc.part").write_bytes(b"x")
    assert existing_output(tmp_path, "other-0123456789ab", None) is None
