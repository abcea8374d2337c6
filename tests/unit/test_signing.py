"""thumbor URL signatures against known vectors from libthumbor and thumbor."""

from __future__ import annotations

import base64
import hashlib
import hmac
from urllib.parse import quote

import pytest

from confab.media.domain.grammar import parse_path
from confab.media.domain.signing import sign, verify

IMAGE = "my.server.com/some/path/to/image.jpg"

# (key, signed path, signature) as published by libthumbor's test suite
# (tests/test_cryptourl.py) and in thumbor's issue tracker (thumbor-url output).
KNOWN_VECTORS = [
    ("my-security-key", f"300x200/{IMAGE}", "8ammJH8D-7tXy6kU3lTvoXlhu4o="),
    ("my-security-key", f"10x10:200x200/300x200/{IMAGE}", "B35oBEIwztbc3jm7vsdqLez2C78="),
    (
        "my-security-key",
        f"10x10:200x200/300x200/filters:brightness(20):contrast(10)/{IMAGE}",
        "as8U2DbUUtTMgvPF26LkjS3MocY=",
    ),
    (
        "thumbordev",
        "fit-in/300x300/filters:fill(f00)/"
        "https://github.com/globocom/thumbor/wiki/tom_before_brightness.jpg",
        "GTA2Sn1kZrCkCVMhNvOnZ9ZSdhg=",
    ),
    (
        "MY_SECURE_KEY",
        "fit-in/236x0/http%3A//media.nbcdfw.com/images/1200%2A675/"
        "shutterstock_413603_metro_train_double.jpg",
        "J7yz2TKQQxrq_9zc7mlVnRThBaU=",
    ),
]


def libthumbor_signature(key: bytes, url: str) -> str:
    """libthumbor's `UrlSigner.signature` (base64_hmac_sha1), written out independently."""
    digest = hmac.new(key, url.encode("utf-8"), hashlib.sha1).digest()
    return base64.urlsafe_b64encode(digest).decode()


@pytest.mark.parametrize(("key", "path", "signature"), KNOWN_VECTORS)
def test_known_vectors(key: str, path: str, signature: str) -> None:
    assert sign(key, path) == signature
    assert verify(key, signature, path)


@pytest.mark.parametrize(
    "path",
    [
        f"10x11:12x13/-300x-300/center/middle/smart/{IMAGE}",  # libthumbor's signer test
        "fit-in/320x240/filters:format(webp):quality(80)/upload/" + "ab" * 32,
        "trim:bottom-right:20/full-fit-in/0x0/http%3A%2F%2Fexample.com%2Fa%20b.jpg",
        "50x50/http://127.0.0.2:8080/redirect?to=http://127.0.0.1:9/secret.jpg",
        "300x200/http://example.com/caf\u00e9.jpg",
    ],
)
def test_matches_the_libthumbor_algorithm(path: str) -> None:
    expected = libthumbor_signature(b"test-key", path)
    assert sign("test-key", path) == expected
    assert verify("test-key", expected, path)


def test_signature_shape() -> None:
    signature = sign("k", f"300x200/{IMAGE}")
    assert len(signature) == 28
    assert signature.endswith("=")
    assert set(signature) <= set(
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_="
    )


def test_non_ascii_key_signs_as_thumbor_and_verifies_libthumbor_urls() -> None:
    key = "caf\u00e9comp\u00e3odequeijo"
    # thumbor 7's server encodes the key as UTF-8 (computed with its algorithm)...
    assert sign(key, IMAGE) == libthumbor_signature(key.encode("utf-8"), IMAGE)
    assert sign(key, IMAGE) == "CjYqux5TMD-XpVeAG6WbG2eDVAI="
    assert verify(key, "CjYqux5TMD-XpVeAG6WbG2eDVAI=", IMAGE)
    # ...libthumbor's CryptoURL as Latin-1 (its KeyWithSpecialCharacters test vector).
    assert verify(key, "MrRd4GRirTQ0JO3vM2slr4rT5Fk=", IMAGE)


@pytest.mark.parametrize(
    ("key", "signature", "path"),
    [
        ("other-key", "8ammJH8D-7tXy6kU3lTvoXlhu4o=", f"300x200/{IMAGE}"),
        ("my-security-key", "8ammJH8D-7tXy6kU3lTvoXlhu4o=", f"300x201/{IMAGE}"),
        ("my-security-key", "8ammJH8D-7tXy6kU3lTvoXlhu4O=", f"300x200/{IMAGE}"),
        ("my-security-key", "", f"300x200/{IMAGE}"),
        ("my-security-key", "unsafe", f"300x200/{IMAGE}"),
        ("my-security-key", "8ammJH8D-7tXy6kU3lTvoXlhu4\u00f6=", f"300x200/{IMAGE}"),
        ("", "8ammJH8D-7tXy6kU3lTvoXlhu4o=", f"300x200/{IMAGE}"),
    ],
)
def test_wrong_signatures_are_refused(key: str, signature: str, path: str) -> None:
    assert verify(key, signature, path) is False


def test_padding_may_be_left_off() -> None:
    assert verify("my-security-key", "8ammJH8D-7tXy6kU3lTvoXlhu4o", f"300x200/{IMAGE}")


def test_an_empty_key_cannot_sign() -> None:
    with pytest.raises(ValueError, match="empty"):
        sign("", "300x200/a.com/b.jpg")


@pytest.mark.parametrize(
    "path",
    [
        f"300x200/{IMAGE}",
        "fit-in/200x200/upload/" + "0" * 64,
        "50x50/http://example.com/a.jpg?size=large&v=2",
        "filters:fill(red)/http%3A%2F%2Fexample.com%2Fa.jpg",
    ],
)
def test_signed_urls_verify_after_parsing(path: str) -> None:
    signature = sign("test-key", path)
    request = parse_path(f"{signature}/{path}")
    assert request.signature == signature
    assert request.signed_path == path
    assert verify("test-key", request.signature, request.signed_path)
    # Some clients percent-encode the `=` of the signature.
    encoded = parse_path(f"{quote(signature, safe='')}/{path}")
    assert encoded.signature is not None
    assert verify("test-key", encoded.signature, encoded.signed_path)


def test_the_options_are_covered_by_the_signature() -> None:
    signature = sign("test-key", f"300x200/{IMAGE}")
    request = parse_path(f"{signature}/3000x2000/{IMAGE}")
    assert request.signature is not None
    assert not verify("test-key", request.signature, request.signed_path)
