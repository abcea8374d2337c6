"""bench/autoscale: the HPA arithmetic as Kubernetes documents it, and the day's curve."""

from __future__ import annotations

import math

import pytest
from bench.autoscale.curve import HOURLY, clients_at, share
from bench.autoscale.hpa import Hpa, average, desired_replicas
from bench.autoscale.run import p99, parse_args


@pytest.mark.parametrize(
    ("current", "metric", "target", "expected"),
    [
        # The documentation's own example: 200m of 100m with one replica -> 2.
        (1, 200.0, 100.0, 2),
        # ... and 50m of 100m with two replicas -> 1.
        (2, 50.0, 100.0, 1),
        (3, 45.0, 30.0, 5),  # ceil(4.5)
        (4, 10.0, 30.0, 2),  # ceil(1.33)
        (2, 32.9, 30.0, 2),  # ratio 1.097: inside the 10% tolerance, no change
        (2, 27.1, 30.0, 2),  # ratio 0.903: inside too
        (2, 33.1, 30.0, 3),  # ratio 1.103: outside, ceil(2.2)
        (2, 26.9, 30.0, 2),  # ratio 0.897: outside, ceil(1.79) = 2
        (5, 0.0, 30.0, 0),  # nothing: the clamp (min replicas) is the HPA's job
        (0, 50.0, 30.0, 0),
    ],
)
def test_desired_replicas(current: int, metric: float, target: float, expected: int) -> None:
    assert desired_replicas(current, metric, target) == expected


def test_a_custom_tolerance_and_a_bad_target() -> None:
    assert desired_replicas(2, 33.0, 30.0, tolerance=0.05) == 3
    with pytest.raises(ValueError):
        desired_replicas(2, 1.0, 0.0)


def test_average_is_per_reporting_pod() -> None:
    assert average([10.0, 20.0, 60.0]) == 30.0
    assert average([]) is None


def test_hpa_scales_up_at_once_and_clamps_to_its_bounds() -> None:
    hpa = Hpa(target=30.0, min_replicas=1, max_replicas=4, down_window=60.0)
    assert hpa.recommend(0.0, 1, [90.0]) == 3
    assert hpa.recommend(5.0, 3, [100.0, 100.0, 100.0]) == 4  # ceil(10) clamped to 4
    assert hpa.recommend(10.0, 1, []) == 1  # no metrics: stay
    assert Hpa(target=30.0, min_replicas=2).recommend(0.0, 3, [1.0, 1.0, 1.0]) == 2


def test_hpa_scale_down_waits_out_the_stabilization_window() -> None:
    hpa = Hpa(target=30.0, min_replicas=1, max_replicas=10, down_window=60.0)
    assert hpa.recommend(0.0, 4, [30.0] * 4) == 4
    # Load halves: the raw recommendation is 2, but 4 was recommended within 60 s.
    assert hpa.recommend(10.0, 4, [15.0] * 4) == 4
    assert hpa.recommend(59.0, 4, [15.0] * 4) == 4
    # Past the window, only the lower recommendations remain.
    assert hpa.recommend(61.0, 4, [15.0] * 4) == 2
    # Nodes still starting count as replicas, the ratio is over those that report.
    assert hpa.recommend(70.0, 3, [45.0, 45.0]) == 3


def test_hpa_takes_the_highest_recommendation_of_the_window_not_the_last() -> None:
    hpa = Hpa(target=10.0, down_window=30.0)
    hpa.recommend(0.0, 6, [10.0] * 6)  # 6
    hpa.recommend(10.0, 6, [5.0] * 6)  # raw 3
    hpa.recommend(20.0, 6, [8.0] * 6)  # raw 5
    assert hpa.recommend(31.0, 6, [1.0] * 6) == 5  # 6 left the window; 5 is the highest
    assert hpa.recommend(41.0, 6, [1.0] * 6) == 5
    assert hpa.recommend(51.0, 6, [1.0] * 6) == 1


def test_the_day_curve_peaks_in_the_evening_and_is_quiet_at_night() -> None:
    assert len(HOURLY) == 24 and max(HOURLY) == 1.0
    assert share(19 / 24) == 1.0
    assert share(3.5 / 24) == pytest.approx((HOURLY[3] + HOURLY[4]) / 2)
    assert share(1.0) == share(0.0)
    assert clients_at(0.0, 600, 100) == 15
    assert clients_at(600 * 19 / 24, 600, 100) == 100
    assert clients_at(600 * 3 / 24, 600, 5) == 1  # never below the floor
    # Starting at noon: the evening peak comes 7 hours in, the night in the middle.
    assert clients_at(600 * 7 / 24, 600, 100, start_hour=12) == 100
    assert clients_at(600 * 15 / 24, 600, 100, start_hour=12) == 7


def test_p99_and_flags() -> None:
    assert p99([float(i) for i in range(1, 101)]) == 99.0
    assert math.isnan(p99([]))
    assert parse_args(["--duration", "90"]).duration == 90
    with pytest.raises(SystemExit):
        parse_args(["--duration", "0"])
