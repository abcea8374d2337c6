"""The media role over HTTP on a real server process: uploads, thumbnails, safety."""

from __future__ import annotations

import time
from collections.abc import Iterator

import httpx
import pytest
import pyvips

from confab.core.upload_grants import HEADER, sign_grant, upload_grant_key
from confab.media.domain.signing import sign
from tests import hostile_images
from tests.e2e.server import ServerHandle, confab_server
from tests.e2e.sources import jpeg, jpeg_claiming, origin, png, png_bomb

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerHandle]:
    data = tmp_path_factory.mktemp("media") / "data"
    env = {
        "CONFAB_MEDIA_ALLOW_NETWORKS": "127.0.0.2/32",
        "CONFAB_MEDIA_ALLOW_PORTS": "1024-65535",
        "CONFAB_MEDIA_RENDER_PROCESSES": "2",
        "CONFAB_MEDIA_SECURITY_KEY": "test-key",
        "CONFAB_MEDIA_UPLOAD_BURST": "1000",
    }
    with confab_server(data, env=env) as handle:
        yield handle


@pytest.fixture
def client(server: ServerHandle) -> Iterator[httpx.Client]:
    # Uploads carry a grant, as a chat node would give one (the key derives from test-key).
    grant = {HEADER: sign_grant(upload_grant_key("test-key"), "tester", 3600)}
    with httpx.Client(base_url=server.url, timeout=30, headers=grant) as http:
        yield http


def signed(path: str) -> str:
    return f"/media/{sign('test-key', path)}/{path}"


def still_serving(client: httpx.Client) -> None:
    assert client.get("/healthz").status_code == 200


def upload(client: httpx.Client, body: bytes) -> httpx.Response:
    return client.post(
        "/media/uploads", content=body, headers={"Content-Type": "application/octet-stream"}
    )


def test_upload_is_content_addressed(client: httpx.Client) -> None:
    body = jpeg(640, 480)
    first = upload(client, body)
    assert first.status_code == 201
    info = first.json()
    assert info["width"] == 640 and info["height"] == 480
    assert info["format"] == "jpeg" and info["bytes"] == len(body)
    again = upload(client, body)
    assert again.status_code == 200
    assert again.json()["id"] == info["id"]


def test_multipart_upload(client: httpx.Client) -> None:
    response = client.post("/media/uploads", files={"file": ("a.png", png(), "image/png")})
    assert response.status_code == 201
    assert response.json()["format"] == "png"


def test_thumbnail_of_an_upload_with_caching_headers_and_304(client: httpx.Client) -> None:
    upload_id = upload(client, jpeg(1200, 900)).json()["id"]
    url = signed(f"fit-in/300x300/upload/{upload_id}")
    response = client.get(url)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "image/jpeg"
    assert response.headers["cache-control"] == "public, max-age=31536000, immutable"
    image = pyvips.Image.new_from_buffer(response.content, "")
    assert (image.width, image.height) == (300, 225)
    etag = response.headers["etag"]
    again = client.get(url, headers={"If-None-Match": etag})
    assert again.status_code == 304
    assert again.headers["etag"] == etag
    assert client.get(url).headers["x-cache"] == "HIT"
    head = client.head(url)
    assert head.status_code == 200
    assert head.content == b""
    assert int(head.headers["content-length"]) == len(response.content)
    assert head.headers["etag"] == etag


def test_auto_format_follows_accept(client: httpx.Client) -> None:
    upload_id = upload(client, jpeg(400, 300)).json()["id"]
    url = signed(f"200x0/upload/{upload_id}")
    webp = client.get(url, headers={"Accept": "image/webp,*/*"})
    assert webp.headers["content-type"] == "image/webp"
    assert webp.headers["vary"] == "Accept"
    plain = client.get(url, headers={"Accept": "*/*"})
    assert plain.headers["content-type"] == "image/jpeg"
    assert plain.headers["etag"] != webp.headers["etag"]


def test_signature_rules(client: httpx.Client) -> None:
    upload_id = upload(client, jpeg(200, 200)).json()["id"]
    path = f"100x100/upload/{upload_id}"
    assert client.get(f"/media/unsafe/{path}").json()["error"] == "unsafe_disabled"
    bad = client.get(f"/media/{sign('other-key', path)}/{path}")
    assert bad.status_code == 403
    assert bad.json()["error"] == "bad_signature"


def test_bad_grammar_is_a_400_that_names_it(client: httpx.Client) -> None:
    path = "100x100/filters:sepia()/upload/" + "0" * 64
    response = client.get(signed(path))
    assert response.status_code == 400
    assert "sepia" in response.json()["detail"]


def test_missing_upload_is_404(client: httpx.Client) -> None:
    response = client.get(signed("100x100/upload/" + "a" * 64))
    assert response.status_code == 404


def test_meta(client: httpx.Client) -> None:
    upload_id = upload(client, jpeg(800, 600)).json()["id"]
    response = client.get("/media/meta/" + signed(f"fit-in/200x200/upload/{upload_id}")[7:])
    assert response.status_code == 200, response.text
    meta = response.json()
    assert meta["source"]["width"] == 800
    assert meta["target"]["width"] == 200


def test_web_source_from_an_allowed_host(client: httpx.Client) -> None:
    with origin("127.0.0.2", {"/a.jpg": ("image/jpeg", jpeg(500, 500))}) as base:
        response = client.get(signed(f"50x50/{base}/a.jpg"))
    assert response.status_code == 200, response.text
    assert pyvips.Image.new_from_buffer(response.content, "").width == 50


@pytest.mark.parametrize(
    "source",
    [
        "http://127.0.0.1:{port}/a.jpg",
        "http://localhost:{port}/a.jpg",
        "http://169.254.169.254/latest/meta-data/",
        "http://[::1]:{port}/a.jpg",
        "http://0.0.0.0:{port}/a.jpg",
    ],
)
def test_private_sources_are_refused(client: httpx.Client, source: str) -> None:
    with origin("127.0.0.1", {"/a.jpg": ("image/jpeg", jpeg(100, 100))}) as base:
        port = base.rsplit(":", 1)[1]
        response = client.get(signed(f"50x50/{source.format(port=port)}"))
    assert response.status_code == 403, response.text
    assert response.json()["error"] == "source_forbidden"
    still_serving(client)


def test_an_unresolvable_host_is_a_404_and_a_port_not_allowed_a_403(
    client: httpx.Client,
) -> None:
    response = client.get(signed("50x50/http://no-such-host.invalid/a.jpg"))
    assert response.status_code == 404, response.text
    assert response.json()["error"] == "source_unresolvable"
    # 127.0.0.2 is an allowed network, yet port 22 is in no allowed range.
    response = client.get(signed("50x50/http://127.0.0.2:22/a.jpg"))
    assert response.status_code == 403, response.text
    assert "port 22 is not allowed" in response.json()["detail"]
    still_serving(client)


def test_redirect_from_allowed_host_to_loopback_is_refused(client: httpx.Client) -> None:
    with (
        origin("127.0.0.1", {"/secret.jpg": ("image/jpeg", jpeg(100, 100))}) as inside,
        origin("127.0.0.2", {}) as allowed,
    ):
        response = client.get(signed(f"50x50/{allowed}/redirect?to={inside}/secret.jpg"))
    assert response.status_code == 403, response.text
    assert response.json()["error"] == "source_forbidden"


def test_decompression_bomb_is_refused_fast(client: httpx.Client) -> None:
    bomb = png_bomb()
    assert len(bomb) < 1_000_000
    started = time.perf_counter()
    response = upload(client, bomb)
    elapsed = time.perf_counter() - started
    assert response.status_code == 413, response.text
    assert response.json()["error"] == "too_many_pixels"
    assert elapsed < 1.0
    still_serving(client)


@pytest.mark.parametrize(
    ("body", "status"),
    [
        (jpeg(400, 300)[:3000], 422),
        (jpeg_claiming(4000, 3000), 422),
        (hostile_images.wide_frame_gif(4), 413),
        (b"\xff\xd8\xff\xe0" + b"garbage" * 100, 422),
        (b"just some text, not an image", 415),
        (b"", 415),
    ],
)
def test_broken_uploads_get_a_4xx_with_a_reason(
    client: httpx.Client, body: bytes, status: int
) -> None:
    response = upload(client, body)
    assert response.status_code == status, response.text
    assert response.json()["error"]
    still_serving(client)


def test_a_lying_jpeg_from_a_url_is_refused_as_at_upload(client: httpx.Client) -> None:
    # Its SOF claims 4000x3000; its data holds 400x300. Upload and /meta refuse it, and a
    # URL render must too, instead of answering a picture filled with grey.
    lying = jpeg_claiming(4000, 3000)
    with origin("127.0.0.2", {"/lying.jpg": ("image/jpeg", lying)}) as base:
        for path in (f"50x50/{base}/lying.jpg", f"meta/50x50/{base}/lying.jpg"):
            response = client.get(signed(path))
            assert response.status_code == 422, response.text
            assert response.json()["error"] == "corrupt_image"
            assert "fewer pixels than its header claims" in response.json()["detail"]
    still_serving(client)


def test_metrics_count_renders_hits_and_refusals(client: httpx.Client) -> None:
    upload_id = upload(client, jpeg(300, 300)).json()["id"]
    for _ in range(2):
        client.get(signed(f"64x64/upload/{upload_id}"))
    client.get(signed("50x50/http://127.0.0.1:9/a.jpg"))
    text = client.get("/metrics").text
    assert 'confab_media_renders_total{outcome="ok"}' in text
    assert 'confab_media_result_cache_total{result="hit"}' in text
    assert "confab_media_fetch_refusals_total{" in text


def test_identical_concurrent_requests_render_once(client: httpx.Client) -> None:
    import concurrent.futures

    upload_id = upload(client, jpeg(2000, 1500)).json()["id"]
    url = signed(f"fit-in/123x77/upload/{upload_id}")

    def renders() -> float:
        for line in client.get("/metrics").text.splitlines():
            if line.startswith('confab_media_renders_total{outcome="ok"}'):
                return float(line.split()[-1])
        return 0.0

    before = renders()
    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        responses = list(
            pool.map(lambda _: httpx.get(client.base_url.join(url), timeout=30), range(8))
        )
    assert {r.status_code for r in responses} == {200}
    assert len({r.content for r in responses}) == 1
    assert renders() - before == 1
