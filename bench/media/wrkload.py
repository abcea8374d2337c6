"""A second load generator for the cached round: wrk (Debian's `wrk`), written in C.

The Python load generator costs tens of microseconds of CPU per request, which on 2 cores
is taken from the server under test. At thousands of cache hits per second that share
differs between the servers (it grows with the rate), so the cached ratio is also measured
with wrk, whose own cost per request is a fraction of that. Same paths, same Zipf order,
same requests in flight, one new connection per request.

wrk reports what it measured from a Lua `done()` hook as one JSON line; a wrk that is not
installed leaves the figures out (the report then shows them as not measured).
"""

from __future__ import annotations

import json
import resource
import shutil
import subprocess
import tempfile
from math import nan
from pathlib import Path

# Enough of the Zipf sequence for wrk to cycle through (the Lua table stays small).
SEQUENCE_CAP = 20_000

_SCRIPT = """
wrk.headers["Connection"] = "close"
local paths = {%(paths)s}
local order = {%(order)s}
local n = 0
request = function()
  n = n + 1
  return wrk.format(nil, paths[order[(n - 1) %% #order + 1] + 1])
end
done = function(summary, latency, requests)
  local errors = summary.errors
  local failed = errors.connect + errors.read + errors.write + errors.timeout + errors.status
  io.write(string.format(
    'WRK_JSON {"requests": %%d, "failed": %%d, "seconds": %%f, "p50_ms": %%f, "p99_ms": %%f}\\n',
    summary.requests, failed, summary.duration / 1e6,
    latency:percentile(50) / 1000, latency:percentile(99) / 1000))
end
"""


def available() -> bool:
    """True when a `wrk` binary is on the PATH."""
    return shutil.which("wrk") is not None


def script(paths: list[str], sequence: list[int] | None) -> str:
    """The Lua script requesting `paths` in `sequence` order (round robin without one)."""
    order = (sequence or list(range(len(paths))))[:SEQUENCE_CAP]
    quoted = ",".join(json.dumps(path) for path in paths)
    return _SCRIPT % {"paths": quoted, "order": ",".join(str(i) for i in order)}


def parse(output: str) -> dict[str, float]:
    """Figures from wrk's output: the JSON line the `done()` hook wrote."""
    for line in output.splitlines():
        if line.startswith("WRK_JSON "):
            raw = json.loads(line.removeprefix("WRK_JSON "))
            ok = raw["requests"] - raw["failed"]
            return {
                "wrk_rps": ok / raw["seconds"] if raw["seconds"] > 0 else float("nan"),
                "wrk_p50_ms": float(raw["p50_ms"]),
                "wrk_p99_ms": float(raw["p99_ms"]),
                "wrk_errors": float(raw["failed"]),
                "wrk_requests": float(raw["requests"]),
                "wrk_seconds": float(raw["seconds"]),
            }
    raise RuntimeError(f"wrk printed no figures:\n{output[-2000:]}")


def drive(
    base_url: str,
    paths: list[str],
    sequence: list[int] | None,
    *,
    concurrency: int,
    duration: float,
) -> dict[str, float]:
    """Run wrk against `base_url` for `duration` seconds; its figures."""
    with tempfile.TemporaryDirectory() as work:
        lua = Path(work) / "zipf.lua"
        lua.write_text(script(paths, sequence))
        seconds = max(1, round(duration))
        command = ["wrk", "-t1", f"-c{concurrency}", f"-d{seconds}s", "--timeout", "10s"]
        before = _children_cpu_seconds()
        done = subprocess.run(
            [*command, "-s", str(lua), base_url],
            capture_output=True,
            text=True,
            timeout=duration + 60,
            check=True,
        )
        wrk_cpu = _children_cpu_seconds() - before
    figures = parse(done.stdout)
    figures["wrk_cpu_cores"] = wrk_cpu / figures["wrk_seconds"] if figures["wrk_seconds"] else nan
    figures["wrk_client_cpu_us"] = wrk_cpu * 1e6 / max(1.0, figures["wrk_requests"])
    return figures


def _children_cpu_seconds() -> float:
    """CPU time of this process's children that exited and were waited for (wrk, here)."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime
