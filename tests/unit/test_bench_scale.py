"""bench/scale: core allocation, medians, factors, the table, the flags (no process started)."""

from __future__ import annotations

import math
import os

import pytest
from bench.scale import report
from bench.scale.chat import ChatSettings, best_step
from bench.scale.cores import affinity, allocate, pin_tree
from bench.scale.cpu import MACHINE, Meter, machine_share, usage
from bench.scale.run import CHAT_PROCS, counts, parse_args


def test_enough_cores_gives_each_process_its_own() -> None:
    alloc = allocate(CHAT_PROCS, available=range(8))
    assert alloc.enough
    assert sorted(c for cores in alloc.cores.values() for c in cores) == [0, 1, 2, 3, 4]


def test_two_cores_keep_the_first_node_alone_and_share_the_rest() -> None:
    alloc = allocate(CHAT_PROCS, available=[0, 1])
    assert alloc.of("chat0") == [0]
    assert {name for name, cores in alloc.cores.items() if cores == [1]} == {
        "chat1", "loadgen", "nginx", "redis",
    }  # fmt: skip
    assert alloc.shared == ["chat1", "loadgen", "nginx", "redis"]
    assert alloc.describe() == "chat0 -> 0, chat1+loadgen+nginx+redis -> 1 (shared)"


def test_three_cores_give_both_nodes_their_own() -> None:
    alloc = allocate(CHAT_PROCS, available=[4, 5, 6])
    assert (alloc.of("chat0"), alloc.of("chat1"), alloc.of("nginx")) == ([4], [5], [6])


def test_pin_tree_pins_this_process_and_affinity_reads_it_back() -> None:
    before = sorted(os.sched_getaffinity(0))
    try:
        assert pin_tree(os.getpid(), before[:1])
        assert affinity(os.getpid()) == before[:1]
    finally:
        os.sched_setaffinity(0, before)
    assert not pin_tree(os.getpid(), None)


def test_meter_reads_this_process_and_usage_is_a_share_of_a_core() -> None:
    meter = Meter({"me": os.getpid()}, {"fixed": lambda: 2.0})
    first = meter.read()
    sum(i * i for i in range(300_000))  # burn a little CPU
    assert meter.read()["me"] >= first["me"]
    got = usage({"a": 1.0, "gone": 5.0}, {"a": 2.5, "gone": 0.0}, 3.0)
    assert got["a"] == {"cpu_s": 1.5, "cores": 0.5}
    assert got["gone"]["cpu_s"] == 0.0  # a process that ended never counts negative


def test_meter_tells_waiting_from_running_and_the_machine_from_the_bench() -> None:
    snapshot = Meter({"me": os.getpid()}).read()
    assert {"me", "me~wait", MACHINE} <= set(snapshot)
    assert snapshot[MACHINE] >= snapshot["me"] > 0  # the machine did at least our work
    cpu = {
        "chat0": {"cpu_s": 2.0, "cores": 0.25},
        "chat0~wait": {"cpu_s": 1.0, "cores": 0.125},
        "chat0~throttled": {"cpu_s": 0.8, "cores": 0.1},
        "loadgen": {"cpu_s": 4.0, "cores": 0.5},
        MACHINE: {"cpu_s": 15.2, "cores": 1.9},
    }
    machine = machine_share(cpu, 2)
    assert machine == {"cores": 2.0, "busy": 1.9, "ours": 0.75, "others": pytest.approx(1.15)}
    run = {"cpu": cpu, "machine": machine, "pinned": {}}
    assert report.cpu_line(run) == "chat0 0.25 [unpinned], loadgen 0.50 [unpinned]"
    assert report.sched_line(run) == (
        "chat0 wait 0.12 thr 0.10, loadgen wait -, "
        "machine busy 1.90 of 2 cores (ours 0.75, others 1.15)"
    )


def test_best_step_is_the_passing_step_with_most_deliveries() -> None:
    steps = [
        {"passed": True, "deliveries_per_s": 100.0},
        {"passed": True, "deliveries_per_s": 300.0},
        {"passed": False, "deliveries_per_s": 900.0},
        {"passed": True, "deliveries_per_s": 200.0},
    ]
    assert best_step(steps) == 1
    assert best_step([{"passed": False, "deliveries_per_s": 5.0}]) is None


def test_generator_config_is_the_traffic_ramp_through_one_address() -> None:
    config = ChatSettings(300, 200.0, 2.0, quick=True).generator_config(8080, ["t1", "t2"])
    assert (config["port"], config["phase"], config["latency"]) == (8080, "traffic", False)
    assert config["tokens"] == ["t1", "t2"] and config["p99_limit_ms"] == 200.0


def test_median_run_and_factor() -> None:
    runs = [{"x": 3.0, "id": "a"}, {"x": 1.0, "id": "b"}, {"x": 2.0, "id": "c"}]
    assert report.median_run(runs, "x") == {"x": 2.0, "id": "c"}
    assert report.median_run([], "x") is None
    assert report.factor(10.0, 15.0) == 1.5
    assert math.isnan(report.factor(0.0, 15.0))


def test_table_and_factor_lines_show_cpu_pinning_and_the_small_machine_note() -> None:
    chat = {
        n: {
            "deliveries_per_s": 1000.0 * n,
            "p99_ms": 12.0,
            "node_cpu_us_per_delivery": 9.0,
            "cpu": {"chat0": {"cpu_s": 1.0, "cores": 0.9}, "postgres": {"cpu_s": 1, "cores": 0.1}},
            "pinned": {"chat0": [0]},
        }
        for n in (1, 2)
    }
    media = {1: {"thumbnails_per_s": 10.0, "cpu": {}, "pinned": {}}, 2: None}
    text = report.table(chat, media)
    assert "chat0 0.90 [0]" in text and "postgres 0.10 [unpinned]" in text
    assert "10.00 thumb/s" in text
    found = report.factors(chat, media)
    assert found == {"chat": 2.0}
    lines = report.factor_lines(found, cores=2)
    assert "2.00x" in lines and "met" in lines and "5-6 cores" in lines
    assert "cores" not in report.factor_lines({"media": 1.2}, cores=8).split("below")[1]


def test_flags_quick_defaults_and_order_alternates() -> None:
    args = parse_args(["--quick", "--parts", "media"])
    assert (args.clients, args.copies, args.parts) == (300, 3, ["media"])
    assert parse_args([]).clients == 1000
    assert counts(0) == [1, 2] and counts(1) == [2, 1]
    with pytest.raises(SystemExit):
        parse_args(["--parts", "nope"])


def test_node_cpu_compares_one_two_and_four_and_checks_its_flags() -> None:
    args = parse_args(["--node-cpu", "0.25"])
    assert (args.node_cpu, args.counts) == (0.25, [1, 2, 4])
    assert parse_args(["--node-cpu", "0.5", "--counts", "1,3"]).counts == [1, 3]
    assert counts(1, [1, 2, 4]) == [4, 2, 1]
    for bad in (["--node-cpu", "0"], ["--node-cpu", "-1"], ["--counts", "2,4"], ["--counts", "x"]):
        with pytest.raises(SystemExit):
            parse_args(bad)


def test_factors_for_four_have_their_own_target() -> None:
    chat = {n: {"deliveries_per_s": 100.0 * f} for n, f in ((1, 1.0), (2, 1.9), (4, 3.0))}
    media = {n: {"thumbnails_per_s": 2.0 * n} for n in (1, 2, 4)}
    found = report.factors(chat, media)  # type: ignore[arg-type]
    assert found == pytest.approx({"chat": 1.9, "chat_4": 3.0, "media": 2.0, "media_4": 4.0})
    lines = report.factor_lines(found, cores=2, quota=0.25).splitlines()
    assert "1 -> 2: 1.90x (target >= 1.8x): met" in lines[0]
    assert "1 -> 4: 3.00x (target >= 3.4x): below" in lines[1]
    assert "1 -> 4: 4.00x (target >= 3.4x): met" in lines[3]
    assert "quota" in lines[-1]
