"""A day's load, compressed: the share of the peak at each moment of a run.

Hourly points of a typical chat service's day (quiet night, morning rise, a lunch bump,
the evening peak), interpolated linearly; a run of D seconds plays the 24 hours in D.
"""

from __future__ import annotations

# Share of the peak at 00:00, 01:00, ... 23:00 (and back to the first at 24:00).
HOURLY = (
    0.15, 0.10, 0.08, 0.07, 0.07, 0.10, 0.20, 0.35, 0.50, 0.55, 0.60, 0.65,
    0.75, 0.70, 0.60, 0.60, 0.65, 0.75, 0.90, 1.00, 0.95, 0.80, 0.50, 0.25,
)  # fmt: skip


def share(fraction_of_day: float) -> float:
    """The share of the peak at a point of the day (0 = midnight, 1 = the next midnight)."""
    hours = (fraction_of_day % 1.0) * 24
    low = int(hours)
    step = hours - low
    start, end = HOURLY[low], HOURLY[(low + 1) % 24]
    return start + (end - start) * step


def clients_at(
    elapsed: float, duration: float, peak: int, floor: int = 1, start_hour: float = 0.0
) -> int:
    """How many clients are connected `elapsed` seconds into a run of `duration` that
    starts at `start_hour` o'clock and plays 24 hours."""
    return max(floor, round(peak * share(start_hour / 24 + elapsed / duration)))
