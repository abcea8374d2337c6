"""The Kubernetes HorizontalPodAutoscaler's algorithm, for a test harness.

As the Kubernetes documentation gives it ("Horizontal Pod Autoscaling", algorithm details):

    desiredReplicas = ceil[currentReplicas * (currentMetricValue / desiredMetricValue)]

- the metric of a `Pods`/`AverageValue` target is the average over the pods that report it;
- no scaling while the ratio is within the tolerance (0.1 by default) of 1.0;
- the result is clamped to [minReplicas, maxReplicas];
- scale-down stabilization: the applied count is the highest recommendation made within
  the window (300 s by default), so a short dip does not remove pods; scale-up applies at
  once (the default scale-up window is 0).

In production Kubernetes does this job (deploy/k8s/hpa.yaml); bench/autoscale uses this
controller to replay a day of load against real nodes on one machine.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field

DEFAULT_TOLERANCE = 0.1


def desired_replicas(
    current: int, metric: float, target: float, tolerance: float = DEFAULT_TOLERANCE
) -> int:
    """ceil(current x metric / target), or `current` while the ratio is within tolerance."""
    if target <= 0:
        raise ValueError("the target must be positive")
    if current <= 0:
        return 0
    ratio = metric / target
    if abs(ratio - 1.0) <= tolerance:
        return current
    return math.ceil(current * ratio)


def average(values: Sequence[float]) -> float | None:
    """The per-pod average of a Pods metric (None when no pod reported it)."""
    return sum(values) / len(values) if values else None


@dataclass
class Hpa:
    """One HPA: its bounds, target, tolerance and scale-down stabilization window."""

    target: float
    min_replicas: int = 1
    max_replicas: int = 10
    tolerance: float = DEFAULT_TOLERANCE
    down_window: float = 300.0
    _history: deque[tuple[float, int]] = field(default_factory=deque)

    def recommend(self, now: float, current: int, per_pod: Sequence[float]) -> int:
        """The replica count to apply at `now`.

        `current`: the replicas the scale target has now (pods still starting included);
        `per_pod`: the metric of each pod that reports it (the ready ones). As in
        Kubernetes, the ratio is taken over the pods that report, and within the
        tolerance the count stays `current`.
        """
        metric = average(per_pod)
        if metric is None:
            raw = current  # no metrics: leave the count alone
        elif abs(metric / self.target - 1.0) <= self.tolerance:
            raw = current
        else:
            raw = desired_replicas(len(per_pod), metric, self.target, self.tolerance)
        raw = max(self.min_replicas, min(self.max_replicas, raw))
        self._history.append((now, raw))
        while self._history and self._history[0][0] < now - self.down_window:
            self._history.popleft()
        if raw >= current:
            return raw  # scale up (or stay) at once
        # Scale down only as far as the highest recommendation within the window allows.
        return min(current, max(count for _, count in self._history))
