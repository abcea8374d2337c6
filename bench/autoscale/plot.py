"""The day on one PNG: load, node count and p99 delivery latency over time (matplotlib)."""

from __future__ import annotations

from pathlib import Path
from typing import Any


def plot_day(samples: list[dict[str, Any]], out: Path, title: str) -> Path:
    """Three stacked panels sharing the time axis; returns `out`."""
    import matplotlib

    matplotlib.use("Agg")  # no display: write the file only
    import matplotlib.pyplot as plt

    t = [s["t"] for s in samples]
    fig, (load, nodes, p99) = plt.subplots(3, 1, sharex=True, figsize=(10, 8))
    load.plot(t, [s["clients"] for s in samples], label="clients (the day's curve)")
    load.plot(t, [s["connections"] for s in samples], label="connections on nodes", alpha=0.7)
    load.set_ylabel("clients")
    load.legend(loc="upper left")
    nodes.step(t, [s["nodes"] for s in samples], where="post", label="nodes running")
    nodes.step(t, [s["desired"] for s in samples], where="post", label="HPA desired", alpha=0.7)
    nodes.set_ylabel("nodes")
    nodes.legend(loc="upper left")
    p99.plot(t, [s["p99_ms"] for s in samples], color="tab:red")
    p99.set_ylabel("p99 delivery (ms)")
    p99.set_xlabel("seconds into the compressed day")
    fig.suptitle(title)
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=100)
    plt.close(fig)
    return out
