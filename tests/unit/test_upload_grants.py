"""Upload grants: signed for one user, good until they expire, only with the right key."""

from __future__ import annotations

import pytest

from confab.core.errors import Unauthorized
from confab.core.internal_api import internal_key
from confab.core.upload_grants import sign_grant, upload_grant_key, verify_grant

KEY = upload_grant_key("media-key")
GOOD = sign_grant(KEY, "ann.b-c_d", 300, now=1_000_000.0)


def test_a_grant_names_its_user_until_it_expires() -> None:
    assert verify_grant(KEY, GOOD, now=1_000_000.0) == "ann.b-c_d"
    assert verify_grant(KEY, GOOD, now=1_000_299.0) == "ann.b-c_d"


def test_the_grant_key_is_not_the_internal_request_key() -> None:
    assert upload_grant_key("media-key") != internal_key("media-key")


def _tampered(grant: str) -> str:
    user, expires, mac = grant.split(":")
    return f"{user}:{int(expires) + 3600}:{mac}"


@pytest.mark.parametrize(
    ("grant", "now", "reason"),
    [
        (None, 1_000_000.0, "upload_grant_missing"),
        ("", 1_000_000.0, "upload_grant_missing"),
        ("x" * 60_000, 1_000_000.0, "upload_grant_invalid"),
        ("ann:1:zz", 1_000_000.0, "upload_grant_invalid"),
        (GOOD.replace("ann.b-c_d", "bob"), 1_000_000.0, "upload_grant_invalid"),
        (_tampered(GOOD), 1_000_000.0, "upload_grant_invalid"),
        (sign_grant(upload_grant_key("other"), "ann", 300, now=1e6), 1e6, "upload_grant_invalid"),
        (GOOD, 1_000_300.0, "upload_grant_expired"),
    ],
)
def test_bad_grants_are_refused_with_a_reason(grant: str | None, now: float, reason: str) -> None:
    with pytest.raises(Unauthorized) as refused:
        verify_grant(KEY, grant, now=now)
    assert refused.value.reason == reason
    assert len(str(refused.value)) < 200  # no echo of the input


@pytest.mark.parametrize("subject", ["", "a:b", "ANN", "x" * 65])
def test_only_usernames_are_granted(subject: str) -> None:
    with pytest.raises(ValueError):
        sign_grant(KEY, subject, 60)
