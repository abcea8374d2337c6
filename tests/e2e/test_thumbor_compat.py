"""thumbor clients against a real node: libthumbor's CryptoURL builds the URLs (issue 12).

meta=True, adaptive_full_fit_in=True and every filter answer 200; a tampered URL 403;
the node stays healthy throughout.
"""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
import pyvips
from libthumbor import CryptoURL

from confab.core.upload_grants import HEADER, sign_grant, upload_grant_key
from tests.e2e.server import ServerHandle, confab_server
from tests.e2e.sources import jpeg, png

pytestmark = pytest.mark.e2e

KEY = "compat-key"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerHandle]:
    data = tmp_path_factory.mktemp("compat") / "data"
    env = {"CONFAB_MEDIA_RENDER_PROCESSES": "1", "CONFAB_MEDIA_SECURITY_KEY": KEY}
    with confab_server(data, env=env) as handle:
        yield handle


@pytest.fixture(scope="module")
def client(server: ServerHandle) -> Iterator[httpx.Client]:
    # Uploads need a grant, which a chat node would give; signed here with the media key.
    grant = {HEADER: sign_grant(upload_grant_key(KEY), "compat", 3600)}
    with httpx.Client(base_url=server.url, timeout=30, headers=grant) as http:
        yield http


@pytest.fixture(scope="module")
def uploads(client: httpx.Client) -> dict[str, str]:
    ids = {}
    for name, body in (("photo", jpeg(800, 600)), ("mark", png())):
        response = client.post(
            "/media/uploads", content=body, headers={"Content-Type": "application/octet-stream"}
        )
        assert response.status_code in (200, 201), response.text
        ids[name] = f"upload/{response.json()['id']}"
    return ids


def crypto_url(**options: object) -> str:
    generated: str = CryptoURL(key=KEY).generate(**options)
    return "/media" + generated


def healthy(client: httpx.Client) -> None:
    assert client.get("/healthz").status_code == 200


def test_meta_url_answers_thumbors_json(client: httpx.Client, uploads: dict[str, str]) -> None:
    url = crypto_url(width=300, height=200, smart=False, meta=True, image_url=uploads["photo"])
    assert "/meta/" in url
    response = client.get(url)
    assert response.status_code == 200, response.text
    body = response.json()["thumbor"]
    assert body["source"] == {
        "url": uploads["photo"],
        "width": 800,
        "height": 600,
        "frameCount": 1,
    }
    assert body["target"] == {"width": 300, "height": 200}
    assert [op["type"] for op in body["operations"]] == ["resize", "crop"]
    healthy(client)


def test_adaptive_full_fit_in(client: httpx.Client, uploads: dict[str, str]) -> None:
    url = crypto_url(width=200, height=300, adaptive_full_fit_in=True, image_url=uploads["photo"])
    assert "/adaptive-full-fit-in/" in url
    response = client.get(url)
    assert response.status_code == 200, response.text
    image = pyvips.Image.new_from_buffer(response.content, "")
    # A landscape source turns the portrait box: 300x200 covered, as full-fit-in does.
    assert (image.width, image.height) == (300, 225)
    healthy(client)


FILTERS = [
    "brightness(40)",
    "contrast(-40)",
    "equalize()",
    "rotate(90)",
    "noise(40)",
    "red_eye()",
    "rgb(20,-20,40)",
    "round_corner(20|40,0,0,0,1)",
    "sharpen(2,1.0,true)",
    "saturation(1.5)",
    "colorize(10,20,30,ffff00)",
    "convolution(1;2;1;2;4;2;1;2;1,3,true)",
    "curve([(0,0),(40,59),(255,255)],[(0,0),(255,255)],[(0,0),(255,255)],[(0,0),(255,255)])",
    "watermark({mark},-10,-10,50)",
    "frame({mark})",
    "proportion(0.5)",
    "focal(10x10:100x100)",
    "extract_focal()",
    "max_age(60)",
    "cover()",
    "stretch()",
    "autojpg()",
    "fill(red,true)",
    "blur(2)",
    "grayscale()",
    "quality(70)",
    "format(webp)",
    "strip_exif()",
    "strip_icc()",
    "no_upscale()",
    "upscale()",
    "max_bytes(20000)",
    "background_color(ff0000)",
]


@pytest.mark.parametrize("filter_call", FILTERS)
def test_every_filter_answers_200(
    client: httpx.Client, uploads: dict[str, str], filter_call: str
) -> None:
    call = filter_call.format(mark=uploads["mark"])
    url = crypto_url(width=200, height=150, fit_in=True, filters=[call], image_url=uploads["photo"])
    response = client.get(url)
    assert response.status_code == 200, (call, response.text)
    assert response.headers["content-type"].startswith("image/")
    if call == "max_age(60)":
        assert response.headers["cache-control"] == "public, max-age=60"
    tampered = url.replace("/200x150/", "/201x150/")
    assert client.get(tampered).status_code == 403
    healthy(client)


def test_heic_upload_renders(client: httpx.Client) -> None:
    from tests.integration.test_render_sources import heic

    response = client.post(
        "/media/uploads",
        content=heic(96, 64, (20, 120, 220)),
        headers={"Content-Type": "application/octet-stream"},
    )
    assert response.status_code in (200, 201), response.text
    assert response.json()["format"] == "heic"
    url = crypto_url(width=48, height=32, image_url=f"upload/{response.json()['id']}")
    rendered = client.get(url)
    assert rendered.status_code == 200, rendered.text
    assert rendered.headers["content-type"] == "image/jpeg"
    healthy(client)
