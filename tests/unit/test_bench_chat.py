"""Pure parts of the chat benchmark: percentiles, the ramp, figures, the table, the frame parser."""

from __future__ import annotations

import json
import math
from typing import Any

import pytest
from bench.chat import report, stats
from bench.chat.run import parse_args
from bench.chat.wsclient import Conn, Dialect, SocketIODialect, read_stamp, stamp_text
from websockets.speedups import apply_mask

# -- stats -----------------------------------------------------------------------------------


def test_nearest_rank_counts_missing_values_as_infinite() -> None:
    values = [float(v) for v in range(1, 101)]
    assert stats.nearest_rank(values, 100, 50) == 50
    assert stats.nearest_rank(values, 100, 99) == 99
    assert stats.nearest_rank(values, 100, 100) == 100
    # 2 of 102 expected never arrived: p99 lands on a missing one.
    assert stats.nearest_rank(values, 102, 99) == math.inf
    assert stats.nearest_rank(values, 102, 50) == 51
    assert math.isnan(stats.nearest_rank([], 0, 50))


def test_latency_summary_in_ms_with_and_without_loss() -> None:
    latencies = [0.001 * v for v in range(1, 1001)]
    clean = stats.latency_summary(latencies)
    assert clean["p50_ms"] == pytest.approx(500)
    assert clean["p99_ms"] == pytest.approx(990)
    assert clean["max_ms"] == pytest.approx(1000)
    assert clean["mean_ms"] == pytest.approx(500.5)
    lossy = stats.latency_summary(latencies, missing=20)
    assert lossy["p99_ms"] == math.inf and lossy["max_ms"] == math.inf
    assert lossy["p50_ms"] == pytest.approx(510)
    empty = stats.latency_summary([])
    assert math.isnan(empty["p50_ms"]) and math.isnan(empty["max_ms"])


def test_step_passes_needs_latency_no_loss_and_the_rate() -> None:
    limits = stats.Criteria(p99_ms=200, max_loss=0.001, min_rate_ratio=0.95)
    assert stats.step_passes(150, 0.0, 10.0, 10.0, limits)
    assert not stats.step_passes(200, 0.0, 10.0, 10.0, limits)
    assert not stats.step_passes(150, 0.01, 10.0, 10.0, limits)
    assert not stats.step_passes(150, 0.0, 9.0, 10.0, limits)
    assert not stats.step_passes(math.nan, 0.0, 10.0, 10.0, limits)
    assert not stats.step_passes(math.inf, 0.0, 10.0, 10.0, limits)


def test_a_window_of_few_messages_may_miss_one_on_its_edge() -> None:
    limits = stats.Criteria(p99_ms=200)
    # 2 msg/s over 5 s: 10 scheduled; 9 went out inside the window (one on its edge).
    assert stats.step_passes(150, 0.0, 9 / 5, 2.0, limits, window_s=5.0)
    assert not stats.step_passes(150, 0.0, 8 / 5, 2.0, limits, window_s=5.0)
    # At 1,000 msg/s the 95% rule is the looser one, and still holds.
    assert stats.step_passes(150, 0.0, 950.0, 1000.0, limits, window_s=5.0)
    assert not stats.step_passes(150, 0.0, 940.0, 1000.0, limits, window_s=5.0)


@pytest.mark.parametrize(
    ("foreign", "wait_share", "expected"),
    [
        ((0.05, 0.02), 0.1, False),  # pinned, quiet
        ((0.3, 0.0), 0.0, True),  # a neighbour on the server's core
        ((math.nan, math.nan), 0.1, False),  # unpinned, the generator ran when it wanted
        ((math.nan, math.nan), 0.6, True),  # unpinned, the generator starved
    ],
)
def test_a_step_is_disturbed_by_noise_on_a_pinned_core_or_a_starved_generator(
    foreign: tuple[float, float], wait_share: float, expected: bool
) -> None:
    assert stats.disturbed(foreign, 0.1, wait_share, 0.25) is expected


def _drive(ramp: stats.Ramp, capacity: float) -> list[float]:
    """Rates the ramp tries against a server that holds any rate up to `capacity`."""
    tried = []
    rate: float | None = ramp.first()
    while rate is not None:
        tried.append(rate)
        rate = ramp.next(rate, rate <= capacity)
    return tried


def test_ramp_climbs_then_bisects_between_pass_and_confirmed_fail() -> None:
    ramp = stats.Ramp(start=2, factor=2, max_rate=1000, refinements=2, retries=1)
    tried = _drive(ramp, capacity=20)
    assert tried[:5] == [2, 4, 8, 16, 32]
    assert tried[5] == 32  # a failure is tried again before it counts
    assert tried[6:] == [24, 24, 20]  # bisect 16..32 (24 fails twice), then 16..24
    assert ramp.best_pass == 20 and ramp.first_fail == 24


def test_ramp_steps_down_when_the_first_rate_fails_and_stops_at_min() -> None:
    ramp = stats.Ramp(start=2, factor=2, min_rate=0.25, retries=0, refinements=2)
    assert _drive(ramp, capacity=0.6) == [2, 1, 0.5, 0.75, 0.62]  # 0.5 holds: bisect 0.5..1
    never = stats.Ramp(start=2, factor=2, min_rate=0.25, retries=0)
    assert _drive(never, capacity=0) == [2, 1, 0.5, 0.25]
    assert never.best_pass is None


def test_ramp_is_bounded_by_max_rate_and_max_steps() -> None:
    capped = stats.Ramp(start=10, factor=3, max_rate=50)
    assert _drive(capped, capacity=1e9) == [10, 30, 50]
    short = stats.Ramp(start=1, factor=1.1, max_rate=1e6, max_steps=5)
    assert len(_drive(short, capacity=1e9)) == 5
    with pytest.raises(ValueError):
        stats.Ramp(start=0)


def test_retry_that_passes_keeps_climbing() -> None:
    ramp = stats.Ramp(start=1, factor=2, max_rate=8, retries=1)
    assert ramp.first() == 1
    assert ramp.next(1, False) == 1  # one bad step: tried again
    assert ramp.next(1, True) == 2
    assert ramp.first_fail is None


def test_disturbed_failures_are_retried_without_counting() -> None:
    ramp = stats.Ramp(start=10, factor=2, max_rate=40, retries=0, disturbed_retries=2)
    assert ramp.first() == 10
    assert ramp.next(10, False, disturbed=True) == 10
    assert ramp.next(10, False, disturbed=True) == 10
    assert ramp.first_fail is None
    # Past the disturbed retries a failure counts: the ramp steps down.
    assert ramp.next(10, False, disturbed=True) == 5
    assert ramp.first_fail == 10
    assert ramp.next(5, True) == 7.5  # bisect 5..10


def test_foreign_cores_subtracts_our_cpu_and_adds_steal() -> None:
    assert stats.foreign_cores(4.0, 0.0, 3.0, 5.0) == pytest.approx(0.2)
    assert stats.foreign_cores(3.0, 0.5, 3.02, 5.0) == pytest.approx(0.1)  # tick rounding
    assert math.isnan(stats.foreign_cores(math.nan, 0.0, 1.0, 5.0))
    assert math.isnan(stats.foreign_cores(1.0, 0.0, 1.0, 0.0))


def test_per_connection_kib() -> None:
    assert stats.per_connection_kib(100.0, 200.0, 1024) == pytest.approx(100.0)
    assert math.isnan(stats.per_connection_kib(100.0, 200.0, 0))
    assert math.isnan(stats.per_connection_kib(math.nan, 200.0, 10))


# -- report ----------------------------------------------------------------------------------


def _step(rate: float, dps: float, p99: float, passed: bool, received: float) -> dict[str, Any]:
    return {
        "rate": rate,
        "sent": rate * 4,
        "acks": rate * 4,
        "deliveries_per_s": dps,
        "received_per_s": received,
        "p50_ms": p99 / 2,
        "p99_ms": p99,
        "p999_ms": p99,
        "ack_p99_ms": 1.0,
        "loss": 0.0,
        "client_cpu_pct": 20.0,
        "passed": passed,
    }


def test_traffic_figures_pick_the_best_passing_step_and_server_cpu() -> None:
    result = {
        "steps": [
            _step(10, 10_000, 20, True, 10_000),
            _step(20, 20_000, 90, True, 20_000),
            _step(30, 26_000, 900, False, 26_500),
        ],
        "latency": {**_step(50, 24_000, 5000, False, 25_000), "loss": 0.5, "label": "latency1"},
    }
    marks = {
        "step1:start": (10.0, 100.0, 1.0),
        "step1:end": (12.0, 104.0, 1.4),
        "latency0:start": (0.0, 180.0, 0.0),
        "latency0:end": (1.0, 190.0, 0.0),
        "latency1:start": (20.0, 200.0, 2.0),
        "latency1:end": (30.0, 210.0, 2.0),
    }
    figures = report.traffic_figures(result, marks)
    ramp, latency = figures["ramp"], figures["latency"]
    assert ramp["max_dps"] == 20_000 and ramp["max_rate"] == 20
    assert ramp["max_server_cores"] == pytest.approx(0.5)
    assert ramp["max_server_wait"] == pytest.approx(0.1)
    assert ramp["peak_dps"] == 26_500 and math.isnan(ramp["peak_server_cores"])
    assert ramp["steps"] == 3
    assert latency["loss_pct"] == 50 and latency["server_cores"] == pytest.approx(1.0)
    assert math.isnan(result["steps"][0]["server_cores"])  # no marks for step 0


def test_traffic_figures_when_nothing_passed() -> None:
    figures = report.traffic_figures({"steps": [_step(1, 900, 400, False, 900)]}, {})
    assert figures["ramp"]["max_dps"] == 0
    assert figures["latency"] == {}


def test_idle_and_capacity_figures() -> None:
    idle = report.idle_figures(
        {"added": 4096, "connect_seconds": 3.0}, {"idle:base": (50, 40), "idle:full": (114, 96)}
    )
    assert idle["kib_rss"] == pytest.approx(16.0) and idle["kib_pss"] == pytest.approx(14.0)
    capacity = report.capacity_figures(
        {"held": 2048, "probe_delivered": 2047, "attempted": 3000, "connect_seconds": 9},
        {"capacity:base": (10, 10), "capacity:held": (42, 40)},
    )
    assert capacity["held"] == 2048 and capacity["probe_delivered"] == 2047
    assert capacity["kib_rss"] == pytest.approx(16.0)


def _figures(confab_dps: float, p99: float, kib: float, held: float) -> dict[str, Any]:
    return {
        "ramp": {
            "confab": {"max_dps": confab_dps, "peak_dps": confab_dps * 1.1},
            "socketio": {"max_dps": 1000.0, "peak_dps": 1100.0},
            "websockets": {"max_dps": 10_000.0, "peak_dps": 11_000.0},
        },
        "latency": {"confab": {"p99_ms": p99}},
        "idle": {"confab": {"kib_rss": kib}},
        "capacity": {"confab": {"held": held}},
    }


def test_verdicts_ratios_and_absolute_targets() -> None:
    met = report.verdicts(_figures(9000, 40, 11, 20_000))
    assert [v.met for v in met] == [True] * 7
    assert met[0].value == pytest.approx(9.0) and met[1].value == pytest.approx(0.9)
    assert met[2].value == pytest.approx(9.0) and met[3].value == pytest.approx(0.9)
    missed = report.verdicts(_figures(5000, 60, 13, 19_900))
    assert [v.met for v in missed] == [False] * 7
    unknown = report.verdicts({})
    assert all(v.met is None for v in unknown)
    lines = report.verdict_lines(met + unknown)
    assert "MET" in lines and "not measured" in lines


def test_table_shows_every_server_and_both_ratios() -> None:
    figures = _figures(9000, 40, 11, 20_000)
    figures["latency"]["socketio"] = {"p99_ms": math.inf}
    text = report.table(figures, ["confab", "socketio", "websockets"])
    assert "confab/sio" in text and "confab/bare" in text
    row = next(line for line in text.splitlines() if "best step under" in line)
    assert row.split()[-5:] == ["9000", "1000", "10000", "9.00", "0.90"]
    p99 = next(line for line in text.splitlines() if line.strip().startswith("p99 ms"))
    assert "inf" in p99
    alone = report.table(figures, ["websockets"])
    assert "confab/" not in alone


def test_medians_keep_one_steps_figures_together() -> None:
    def run(dps: float, rate: float, p99: float, kib: float) -> dict[str, Any]:
        return {
            "ramp": {"confab": {"max_dps": dps, "max_rate": rate, "max_p99_ms": p99}},
            "idle": {"confab": {"kib_rss": kib}},
        }

    runs = [run(30_000, 30, 150, 5.0), run(60_000, 60, 90, 6.0), run(50_000, 50, 20, 4.0)]
    final = report.medians(runs)
    assert final["ramp"]["confab"] == {"max_dps": 50_000, "max_rate": 50, "max_p99_ms": 20}
    assert final["idle"]["confab"]["kib_rss"] == 5.0  # plain per-figure median
    # A run that measured nothing does not become the median.
    runs = [run(math.nan, math.nan, math.nan, 5.0), run(10, 1, 5, 5.0), run(20, 2, 9, 5.0)]
    assert report.medians(runs)["ramp"]["confab"]["max_rate"] == 1


def test_ratio_against_a_peer_that_held_nothing() -> None:
    assert report.ratio(100.0, 0.0) == math.inf
    assert math.isnan(report.ratio(0.0, 0.0))
    assert math.isnan(report.ratio(None, 5.0)) and math.isnan(report.ratio(5.0, math.nan))
    assert report.ratio(6.0, 3.0) == 2.0


def test_jsonable_round_trip_keeps_infinity_and_nan() -> None:
    data = {"a": [1.0, math.inf, math.nan], "b": {"c": -math.inf}}
    text = json.dumps(report.jsonable(data), allow_nan=False)
    back = report.from_json(json.loads(text))
    assert back["a"][:2] == [1.0, math.inf] and math.isnan(back["a"][2])
    assert back["b"]["c"] == -math.inf


# -- arguments -------------------------------------------------------------------------------


def test_parse_args_quick_defaults_and_lists() -> None:
    args = parse_args(["--quick", "--servers", "websockets,confab", "--phases", "idle"])
    assert args.step_duration == 2.0 and args.latency_duration == 5.0
    assert args.servers == ["websockets", "confab"] and args.phases == ["idle"]
    assert args.users == args.clients == 1000
    full = parse_args([])
    assert full.step_duration == 5.0 and full.latency_duration == 15.0
    assert full.servers == ["confab", "socketio", "websockets"]


@pytest.mark.parametrize("argv", [["--servers", "nginx"], ["--phases", "soak"], ["--repeat", "0"]])
def test_parse_args_rejects_bad_values(argv: list[str]) -> None:
    with pytest.raises(SystemExit):
        parse_args(argv)


# -- the frame parser ------------------------------------------------------------------------


class FakeTransport:
    """Collects what the connection writes."""

    def __init__(self) -> None:
        self.written: list[bytes] = []
        self.closed = False

    def write(self, data: bytes) -> None:
        self.written.append(data)

    def is_closing(self) -> bool:
        return self.closed

    def close(self) -> None:
        self.closed = True

    def abort(self) -> None:
        self.closed = True


class FakeSink:
    """Records what a connection reports."""

    def __init__(self) -> None:
        self.messages: list[bytes] = []
        self.acks: list[bytes] = []
        self.errors: list[bytes] = []
        self.closed = 0

    def on_message(self, conn: Conn, payload: bytes, now: float) -> None:
        self.messages.append(payload)

    def on_ack(self, conn: Conn, payload: bytes, now: float) -> None:
        self.acks.append(payload)

    def on_error(self, conn: Conn, payload: bytes) -> None:
        self.errors.append(payload)

    def on_closed(self, conn: Conn) -> None:
        self.closed += 1


def _frame(payload: bytes, opcode: int = 1, fin: bool = True) -> bytes:
    first = (0x80 if fin else 0) | opcode
    size = len(payload)
    if size < 126:
        return bytes((first, size)) + payload
    if size < 65536:
        return bytes((first, 126)) + size.to_bytes(2, "big") + payload
    return bytes((first, 127)) + size.to_bytes(8, "big") + payload


def _unmask(frame: bytes) -> tuple[int, bytes]:
    """(opcode, payload) of a client frame."""
    assert frame[1] & 0x80, "client frames must be masked"
    size = frame[1] & 0x7F
    head = 2
    if size == 126:
        size, head = int.from_bytes(frame[2:4], "big"), 4
    mask = frame[head : head + 4]
    return frame[0] & 0x0F, apply_mask(frame[head + 4 : head + 4 + size], mask)


def _connected(dialect: Dialect) -> tuple[Conn, FakeSink, FakeTransport]:
    sink, transport = FakeSink(), FakeTransport()
    conn = Conn(sink, dialect, 7, "tok", "127.0.0.1", 9)
    conn.connection_made(transport)  # type: ignore[arg-type]
    request = transport.written.pop()
    assert request.startswith(b"GET " + dialect.path("tok").encode() + b" HTTP/1.1\r\n")
    assert b"Sec-WebSocket-Version: 13" in request
    return conn, sink, transport


def _message(stamp: float, size: int = 0) -> bytes:
    body = {"type": "message", "seq": 1, "text": stamp_text(stamp, 1, 1) + "x" * size}
    return json.dumps(body, separators=(",", ":")).encode()


async def test_parser_handles_split_and_coalesced_frames() -> None:
    conn, sink, _ = _connected(Dialect())
    ready = _frame(b'{"type":"ready","user":"u"}')
    response = b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n"
    conn.data_received(response + ready[:3])  # handshake and a partial frame together
    assert not conn.ready.done()
    conn.data_received(ready[3:])
    assert conn.ready.done()
    big = _frame(_message(12.5, size=70_000))  # 8-byte length
    medium = _frame(_message(13.5, size=300))  # 2-byte length
    ack = _frame(b'{"type":"ack","client_id":"@@1.000000@@1","id":1,"seq":1}')
    stream = medium + ack + big + _frame(b'{"type":"error","code":"rate_limited"}')
    for cut in range(0, len(stream), 997):
        conn.data_received(stream[cut : cut + 997])
    assert [read_stamp(m) for m in sink.messages] == [13.5, 12.5]
    assert len(sink.acks) == 1 and len(sink.errors) == 1
    assert conn.buffer == b""


async def test_parser_reassembles_fragments_and_answers_pings_and_closes() -> None:
    conn, sink, transport = _connected(Dialect())
    conn.data_received(b"HTTP/1.1 101 Switching Protocols\r\n\r\n")
    whole = _message(3.25)
    conn.data_received(_frame(whole[:10], opcode=1, fin=False) + _frame(whole[10:], opcode=0))
    assert sink.messages == [whole]
    conn.data_received(_frame(b"hi", opcode=9))
    assert _unmask(transport.written[-1]) == (0xA, b"hi")
    conn.data_received(_frame((4009).to_bytes(2, "big") + b"slow", opcode=8))
    assert conn.close_code == 4009 and transport.closed
    assert _unmask(transport.written[-1]) == (0x8, (4009).to_bytes(2, "big"))


async def test_refused_handshake_fails_ready() -> None:
    conn, _, transport = _connected(Dialect())
    conn.data_received(b"HTTP/1.1 403 Forbidden\r\ncontent-length: 0\r\n\r\n")
    assert transport.closed
    with pytest.raises(ConnectionError, match="403"):
        await conn.ready


async def test_post_sends_a_masked_stamped_frame() -> None:
    conn, _, transport = _connected(Dialect())
    conn.data_received(b"HTTP/1.1 101 Switching Protocols\r\n\r\n")
    stamp = conn.post("bench", 5)
    opcode, payload = _unmask(transport.written[-1])
    frame = json.loads(payload)
    assert opcode == 1 and frame["type"] == "send" and frame["room"] == "bench"
    assert read_stamp(payload) == pytest.approx(stamp, abs=1e-6)
    assert frame["client_id"].endswith("@@5")


async def test_socketio_dialect_connects_namespace_and_answers_engine_pings() -> None:
    conn, sink, transport = _connected(SocketIODialect())
    conn.data_received(b"HTTP/1.1 101 Switching Protocols\r\n\r\n")
    conn.data_received(_frame(b'0{"sid":"x","pingInterval":25000}'))
    assert _unmask(transport.written[-1]) == (1, b'40{"token": "tok"}')
    conn.data_received(_frame(b'40{"sid":"y"}'))
    assert conn.ready.done()
    conn.data_received(_frame(b"2"))
    assert _unmask(transport.written[-1]) == (1, b"3")
    conn.join("bench")
    assert _unmask(transport.written[-1])[1] == b'42["join", {"room": "bench"}]'
    conn.data_received(_frame(b'42["joined",{"room":"bench"}]'))
    assert conn.joined.done()
    payload = b'42["message",' + _message(9.5) + b"]"
    conn.data_received(_frame(payload))
    assert sink.messages == [payload] and read_stamp(payload) == 9.5


def test_read_stamp_rejects_frames_without_one() -> None:
    assert read_stamp(b'{"type":"message","text":"hello"}') is None
    assert read_stamp(b"@@12.5") is None
    assert read_stamp(b"@@abc@@") is None
    assert read_stamp(stamp_text(42.123456, 1, 2).encode()) == pytest.approx(42.123456)
