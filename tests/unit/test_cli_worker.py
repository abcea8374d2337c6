"""`confab worker`: bad settings are a clear message and exit 2, never a traceback."""

from __future__ import annotations

import pytest

from confab.cli import main


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
