from pathlib import Path

import pytest
from pydantic import ValidationError

from confab.core.settings import Settings


def test_defaults_are_the_embedded_system(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("CONFAB_ROLES", "CONFAB_DATA_DIR", "CONFAB_DATABASE_URL", "CONFAB_BLOBS_URL"):
        monkeypatch.delenv(name, raising=False)
    settings = Settings(data_dir=Path("/tmp/x"))
    assert settings.roles == ["chat", "media"]
    assert settings.resolved_database_url() == "sqlite:////tmp/x/confab.db"
    assert settings.resolved_blobs_url() == "file:///tmp/x/blobs"
    assert settings.media_allow_unsafe is False
    assert settings.render_processes() >= 1


def test_environment_lists_are_comma_separated(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CONFAB_ROLES", "media")
    monkeypatch.setenv("CONFAB_MEDIA_ALLOW_NETWORKS", "127.0.0.1/32, 10.0.0.0/8")
    monkeypatch.setenv("CONFAB_MEDIA_ALLOW_UNSAFE", "true")
    settings = Settings()
    assert settings.roles == ["media"]
    assert settings.media_allow_networks == ["127.0.0.1/32", "10.0.0.0/8"]
    assert settings.media_allow_unsafe is True


def test_keyword_overrides_win_over_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CONFAB_PORT", "9001")
    assert Settings().port == 9001
    assert Settings(port=9002).port == 9002


@pytest.mark.parametrize(
    ("name", "value"),
    [("CONFAB_ROLES", "chat,bogus"), ("CONFAB_PORT", "70000"), ("CONFAB_ROLES", ",")],
)
def test_bad_values_are_refused(monkeypatch: pytest.MonkeyPatch, name: str, value: str) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(ValidationError):
        Settings()


def test_security_key_is_secret_in_repr(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CONFAB_MEDIA_SECURITY_KEY", "hunter2")
    settings = Settings()
    assert "hunter2" not in repr(settings)
    assert settings.media_security_key is not None
    assert settings.media_security_key.get_secret_value() == "hunter2"


def test_a_chat_node_names_where_media_is(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CONFAB_MEDIA_URL", "http://media-host:8001")
    monkeypatch.setenv("CONFAB_MEDIA_CLIENT_TIMEOUT", "2.5")
    settings = Settings()
    assert settings.media_url == "http://media-host:8001"
    assert settings.media_client_timeout == 2.5
    assert settings.media_client_retries == 2
    monkeypatch.delenv("CONFAB_MEDIA_URL")
    assert Settings().media_url is None  # default: no remote media (attachments refused)
    with pytest.raises(ValidationError):
        Settings(media_client_timeout=0)
    for bad in ("media-host:8001", "ftp://media-host", "http://"):
        with pytest.raises(ValidationError):
            Settings(media_url=bad)
    assert Settings(media_url="https://lb.example/").media_url == "https://lb.example/"
