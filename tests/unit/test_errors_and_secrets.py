import pickle
import stat
from pathlib import Path

import pytest

from confab.core import errors
from confab.core.secrets import load_or_create_secret
from confab.node.errors import status_for


def test_errors_survive_pickling_with_their_reason() -> None:
    original = errors.Forbidden("address is loopback", code="source_forbidden")
    copy = pickle.loads(pickle.dumps(original))
    assert type(copy) is errors.Forbidden
    assert copy.reason == "source_forbidden"
    assert copy.detail == "address is loopback"
    assert str(copy) == "source_forbidden: address is loopback"


def test_default_reason_is_the_class_code() -> None:
    assert errors.TooLarge("x").reason == "too_large"


@pytest.mark.parametrize(
    ("error", "status"),
    [
        (errors.InvalidInput(), 400),
        (errors.Forbidden(), 403),
        (errors.NotFound(), 404),
        (errors.TooLarge(), 413),
        (errors.UnsupportedMedia(), 415),
        (errors.Unprocessable(), 422),
        (errors.UpstreamFailed(), 502),
        (errors.UpstreamTimeout(), 504),
    ],
)
def test_web_boundary_maps_errors_to_statuses(error: errors.ConfabError, status: int) -> None:
    assert status_for(error) == status


def test_subclass_inherits_its_parent_status() -> None:
    class Special(errors.Forbidden):
        code = "special"

    assert status_for(Special()) == 403


def test_secret_is_created_once_with_mode_0600(tmp_path: Path) -> None:
    first = load_or_create_secret(tmp_path / "data", "key")
    second = load_or_create_secret(tmp_path / "data", "key")
    assert first == second
    assert len(first) >= 32
    mode = stat.S_IMODE((tmp_path / "data" / "key").stat().st_mode)
    assert mode == 0o600
