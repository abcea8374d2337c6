"""Source lists of `confab thumbs`: list files, URLs, files and folders."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from confab.core.errors import InvalidInput
from confab.media.batch.sources import (
    expand_sources,
    is_url,
    parse_source_lines,
    read_source_list,
)


def test_list_lines_skip_blanks_and_comments() -> None:
    lines = ["https://a.example/x.jpg\n", "\n", "  # a comment\n", "  photos/  \n", "#x\n"]
    assert parse_source_lines(lines) == ["https://a.example/x.jpg", "photos/"]


def test_list_from_stdin_and_file(tmp_path: Path) -> None:
    assert read_source_list("-", io.StringIO("a.jpg\n\nb.png\n")) == ["a.jpg", "b.png"]
    listing = tmp_path / "list.txt"
    listing.write_text("# header\nhttps://x.example/1.png\n")
    assert read_source_list(str(listing), io.StringIO()) == ["https://x.example/1.png"]


def test_unreadable_list_is_invalid_input(tmp_path: Path) -> None:
    with pytest.raises(InvalidInput) as caught:
        read_source_list(str(tmp_path / "missing.txt"), io.StringIO())
    assert caught.value.reason == "unreadable_source_list"
    binary = tmp_path / "binary.txt"
    binary.write_bytes(b"\xff\xfe\x00bad")
    with pytest.raises(InvalidInput):
        read_source_list(str(binary), io.StringIO())


def test_url_detection() -> None:
    assert is_url("https://example.com/a.jpg")
    assert is_url("ftp://example.com/a.jpg")  # refused later by the fetcher, not a path
    assert not is_url("photos/a.jpg")
    assert not is_url("C:/photos/a.jpg")


def test_folders_expand_recursively_sorted_images_only(tmp_path: Path) -> None:
    root = tmp_path / "photos"
    (root / "b").mkdir(parents=True)
    for name in ["z.jpg", "a.PNG", "notes.txt", ".hidden.jpg", "b/c.webp"]:
        (root / name).write_bytes(b"x")
    sources = expand_sources([str(root)])
    assert [Path(s.value).relative_to(root).as_posix() for s in sources] == [
        "a.PNG",
        "b/c.webp",
        "z.jpg",
    ]
    assert all(s.kind == "file" and Path(s.value).is_absolute() for s in sources)


def test_output_folder_inside_a_source_folder_is_excluded(tmp_path: Path) -> None:
    root = tmp_path / "photos"
    (root / "thumbs").mkdir(parents=True)
    (root / "a.jpg").write_bytes(b"x")
    (root / "thumbs" / "a-123.jpg").write_bytes(b"x")
    sources = expand_sources([str(root)], exclude=root / "thumbs")
    assert [Path(s.value).name for s in sources] == ["a.jpg"]


def test_mixed_sources_keep_order_and_drop_duplicates(tmp_path: Path) -> None:
    image = tmp_path / "one.jpg"
    image.write_bytes(b"x")
    raw = ["https://h.example/p.jpg", str(image), "missing.png", "https://h.example/p.jpg"]
    sources = expand_sources([*raw, str(tmp_path)])
    assert [s.kind for s in sources] == ["url", "file", "file"]
    assert sources[0].value == "https://h.example/p.jpg"
    assert sources[1].value == str(image.resolve())
    # A missing path stays: it fails on its own instead of stopping the batch.
    assert sources[2].display == "missing.png"
