"""`confab worker`: bad settings are a clear message and exit 2, never a traceback."""

from __future__ import annotations

import pytest

from confab.cli import build_parser, main


@pytest.mark.parametrize(
    ("env", "argv", "message"),
    [
        ({}, ["worker", "--jobs-url", "local://"], "CONFAB_JOBS_URL=redis://"),
        ({"CONFAB_BLOBS_URL": "memory://"}, ["worker", "--jobs-url", "redis://h:1/0"], "blob"),
        (
            {"CONFAB_JOBS_RESULT_URL": "db+sqlite:///x"},
            ["worker", "--jobs-url", "amqp://h//"],
            "result",
        ),
    ],
)
def test_bad_jobs_settings_exit_2_with_a_message(
    env: dict[str, str],
    argv: list[str],
    message: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    tmp_path: object,
) -> None:
    monkeypatch.setenv("CONFAB_DATA_DIR", str(tmp_path))
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("confab worker: cannot start:") and message in err


def test_concurrency_must_be_positive(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["worker", "--concurrency", "0"])
    assert exited.value.code == 2
    assert "positive" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("value", "parsed"),
    [("4,1", (4, 1)), ("2, 2", (2, 2)), ("8,3", (8, 3))],
)
def test_autoscale_takes_max_then_min(value: str, parsed: tuple[int, int]) -> None:
    assert build_parser().parse_args(["worker", "--autoscale", value]).autoscale == parsed


@pytest.mark.parametrize("value", ["4", "1,4", "0,0", "a,b", "4,1,1", ""])
def test_bad_autoscale_exits_2(value: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["worker", "--autoscale", value])
    assert exited.value.code == 2
    assert "--autoscale" in capsys.readouterr().err


def test_ping_without_a_broker_url_is_a_clear_error(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: object
) -> None:
    monkeypatch.setenv("CONFAB_DATA_DIR", str(tmp_path))
    assert main(["worker", "--ping", "--jobs-url", "local://"]) == 2
    assert "CONFAB_JOBS_URL=redis://" in capsys.readouterr().err
