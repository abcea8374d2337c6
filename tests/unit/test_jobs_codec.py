"""The Celery job codec: media task arguments and results survive JSON, bytes go to blobs."""

from __future__ import annotations

import enum
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from confab.adapters.jobs_celery_codec import (
    BLOB_TAG,
    blob_keys,
    decode,
    decode_args,
    encode,
    encode_args,
    task_signature,
)
from confab.media.domain.options import CropBox, Rendered, RenderOptions, SourceInfo
from confab.media.domain.pagemeta import PageMeta
from confab.media.domain.pageparse import parse_page
from confab.media.imaging import tasks
from confab.media.imaging.limits import RenderLimits


class Stash:
    """Collects stashed bytes like the blob store would."""

    def __init__(self) -> None:
        self.blobs: dict[str, bytes] = {}

    def __call__(self, data: bytes) -> str:
        key = f"k{len(self.blobs)}"
        self.blobs[key] = data
        return key


def roundtrip_args(function: Any, *args: Any) -> tuple[list[Any], Stash]:
    signature = task_signature(function)
    stash = Stash()
    # Through real JSON text: what the broker carries.
    wire = json.loads(json.dumps(encode_args(signature, args, stash)))
    return decode_args(signature, wire, stash.blobs), stash


def test_render_arguments_roundtrip_with_bytes_in_blobs() -> None:
    options = RenderOptions(
        width=300, height=200, fit="fit-in", crop=CropBox(1, 2, 30, 40), format="webp", blur=1.5
    )
    limits = RenderLimits(max_pixels=1000, extra_loaders=("tiff",))
    decoded, stash = roundtrip_args(tasks.render, b"\x89PNG...", options, ("webp", "avif"), limits)
    assert decoded == [b"\x89PNG...", options, ("webp", "avif"), limits]
    assert list(stash.blobs.values()) == [b"\x89PNG..."]


def test_local_file_source_travels_as_its_bytes(tmp_path: Path) -> None:
    path = tmp_path / "a.jpg"
    path.write_bytes(b"jpeg bytes")
    decoded, stash = roundtrip_args(tasks.render, str(path), RenderOptions(), (), RenderLimits())
    assert decoded[0] == b"jpeg bytes"
    assert list(stash.blobs.values()) == [b"jpeg bytes"]


def test_rendered_result_roundtrips() -> None:
    rendered = Rendered(
        data=b"out",
        format="png",
        width=3,
        height=4,
        source=SourceInfo(width=30, height=40, format="jpeg", orientation=6),
        operations=("resize", "crop"),
    )
    hint = task_signature(tasks.render).result
    stash = Stash()
    wire = json.loads(json.dumps(encode(rendered, hint, stash)))
    assert list(blob_keys(wire)) == ["k0"]
    assert decode(wire, hint, stash.blobs) == rendered


def test_page_meta_task_roundtrips() -> None:
    decoded, _ = roundtrip_args(parse_page, b"<title>x</title>", "https://e.test/", None)
    assert decoded == [b"<title>x</title>", "https://e.test/", None]
    meta = PageMeta(title="t", description=None, image="https://e.test/i.png")
    hint = task_signature(parse_page).result
    assert decode(encode(meta, hint, Stash()), hint, {}) == meta


def test_plain_json_results_pass_through() -> None:
    hint = task_signature(tasks.plan).result
    plan = {"source": {"width": 1}, "operations": [{"type": "blur", "sigma": 1.0}]}
    assert decode(encode(plan, hint, Stash()), hint, {}) == plan


class Color(enum.Enum):
    RED = "red"


@dataclass(frozen=True)
class Tagged:
    color: Color
    sizes: tuple[int, int]
    weight: float


def test_enums_fixed_tuples_and_numbers() -> None:
    value = Tagged(Color.RED, (1, 2), 3.0)
    wire = json.loads(json.dumps(encode(value, Tagged, Stash())))
    assert wire == {"color": "red", "sizes": [1, 2], "weight": 3.0}
    assert decode({"color": "red", "sizes": [1, 2], "weight": 3}, Tagged, {}) == value


@pytest.mark.parametrize(
    ("data", "hint"),
    [
        ({"color": "blue", "sizes": [1, 2], "weight": 1}, Tagged),
        ({"color": "red", "sizes": [1], "weight": 1}, Tagged),
        ({"color": "red", "sizes": [1, 2], "weight": 1, "extra": 1}, Tagged),
        ("3", int),
        (True, int),
        ("zzz", RenderOptions),
        ({"fit": "sideways"}, RenderOptions),
        ({BLOB_TAG: "missing"}, bytes),
        ("a path", bytes),
    ],
)
def test_values_that_do_not_fit_their_hint_are_refused(data: Any, hint: Any) -> None:
    with pytest.raises((TypeError, ValueError)):
        decode(data, hint, {})


def test_a_dataclass_without_its_type_in_the_hints_is_refused() -> None:
    with pytest.raises(TypeError):
        encode(Tagged(Color.RED, (1, 2), 1.0), Any, Stash())
    with pytest.raises(TypeError):
        encode(object(), Any, Stash())


def test_too_many_arguments_are_refused() -> None:
    signature = task_signature(tasks.probe)
    with pytest.raises(TypeError):
        encode_args(signature, [b"", RenderLimits(), 3], Stash())
