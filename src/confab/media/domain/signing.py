"""thumbor's URL signatures: HMAC-SHA1 of the signed path, URL-safe base64.

This is the `base64_hmac_sha1` signer that thumbor 7 validates with (libthumbor's
`UrlSigner`), byte for byte, so URLs built by libthumbor and the clients that copy it
verify here. The signed path is the URL text after `<signature>/`, exactly as sent
(see `grammar.parse_path`).
"""

from __future__ import annotations

import base64
import hashlib
import hmac


def _digest(key: bytes, path: str) -> bytes:
    return hmac.new(key, path.encode("utf-8"), hashlib.sha1).digest()


def _encode(digest: bytes) -> bytes:
    return base64.urlsafe_b64encode(digest)


def _key_encodings(key: str) -> list[bytes]:
    """The key as thumbor's server encodes it (UTF-8), then as libthumbor's CryptoURL does.

    CryptoURL turns the key into bytes with `six.b`, which is Latin-1: for a non-ASCII
    key its URLs would not verify on thumbor itself. We accept both so such URLs work.
    """
    encodings = [key.encode("utf-8")]
    try:
        latin = key.encode("latin-1")
    except UnicodeEncodeError:
        return encodings
    if latin != encodings[0]:
        encodings.append(latin)
    return encodings


def sign(key: str, path: str) -> str:
    """The 28-character signature of `path` (padded URL-safe base64 of HMAC-SHA1)."""
    if not key:
        # An empty key would make every signature public knowledge.
        raise ValueError("the signing key is empty")
    return _encode(_digest(key.encode("utf-8"), path)).decode("ascii")


def verify(key: str, signature: str, path: str) -> bool:
    """Whether `signature` signs `path` with `key`, compared in constant time.

    The `=` padding may be left off (some clients strip it): it carries no information.
    An empty key verifies nothing.
    """
    if not key:
        return False
    try:
        given = signature.rstrip("=").encode("ascii")
    except UnicodeEncodeError:
        return False
    matched = False
    for encoded_key in _key_encodings(key):
        expected = _encode(_digest(encoded_key, path)).rstrip(b"=")
        # No early exit: the time taken does not depend on which encoding matched.
        matched |= hmac.compare_digest(expected, given)
    return matched
