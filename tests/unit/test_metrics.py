"""Counts kept by adapters show on /metrics with their value at scrape time."""

from __future__ import annotations

from confab.core.metrics import Metrics


def test_a_tracked_count_is_read_at_each_scrape() -> None:
    metrics = Metrics()
    count = {"n": 0}
    metrics.track_count("confab_test_things", "Things counted elsewhere", lambda: count["n"])
    assert "confab_test_things_total 0.0" in metrics.render_text().decode()
    count["n"] = 3
    text = metrics.render_text().decode()
    assert "# TYPE confab_test_things_total counter" in text
    assert "confab_test_things_total 3.0" in text
