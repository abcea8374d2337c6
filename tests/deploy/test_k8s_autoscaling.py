"""deploy/k8s/prometheus-adapter: the adapter's manifests against the Kubernetes schemas,
and its rules against what a live Confab node really exports on /metrics.

An HPA on a metric nobody exports never scales: so the rules' series are checked by
scraping a running node (chat and media roles), not against a list written by hand.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import kubernetes_validate
import yaml
from prometheus_client.parser import text_string_to_metric_families

from tests.e2e.server import confab_server

ADAPTER = Path(__file__).resolve().parents[2] / "deploy" / "k8s" / "prometheus-adapter"
HPA = ADAPTER.parent / "hpa.yaml"
_SERIES = re.compile(r"\b(confab_[a-z0-9_]+)")

Doc = dict[str, Any]


def _docs(path: Path) -> list[Doc]:
    return [d for d in yaml.safe_load_all(path.read_text()) if d is not None]


def _rules() -> list[Doc]:
    (config,) = [d for d in _docs(ADAPTER / "rules.yaml") if d["kind"] == "ConfigMap"]
    rules: list[Doc] = yaml.safe_load(config["data"]["config.yaml"])["rules"]
    return rules


def _pods_metrics() -> Iterator[tuple[str, str]]:
    """(HPA name, metric name) of every Pods metric in hpa.yaml."""
    for hpa in _docs(HPA):
        for metric in hpa["spec"]["metrics"]:
            if metric["type"] == "Pods":
                yield hpa["metadata"]["name"], metric["pods"]["metric"]["name"]


def test_adapter_kustomization_lists_every_manifest() -> None:
    listed = yaml.safe_load((ADAPTER / "kustomization.yaml").read_text())["resources"]
    assert sorted(listed) == sorted(
        p.name for p in ADAPTER.glob("*.yaml") if p.stem != "kustomization"
    )


def test_adapter_manifests_pass_the_kubernetes_schemas_strictly() -> None:
    target = kubernetes_validate.latest_version()
    kinds = set()
    for path in sorted(ADAPTER.glob("*.yaml")):
        if path.name == "kustomization.yaml":
            continue
        for doc in _docs(path):
            kubernetes_validate.validate(doc, target, strict=True)
            kinds.add(doc["kind"])
    assert {"ConfigMap", "Deployment", "Service", "APIService", "ClusterRoleBinding"} <= kinds


def test_adapter_mounts_its_rules() -> None:
    (deployment,) = [d for d in _docs(ADAPTER / "adapter.yaml") if d["kind"] == "Deployment"]
    spec = deployment["spec"]["template"]["spec"]
    (config,) = [v for v in spec["volumes"] if v["name"] == "config"]
    assert config["configMap"]["name"] == "confab-prometheus-adapter"
    args = spec["containers"][0]["args"]
    assert "--config=/etc/adapter/config.yaml" in args
    assert any(m["mountPath"] == "/etc/adapter" for m in spec["containers"][0]["volumeMounts"])


def test_every_hpa_custom_metric_is_served_by_a_rule() -> None:
    served = {rule["name"]["as"] for rule in _rules()}
    wanted = dict(_pods_metrics())
    assert wanted == {
        "confab-chat": "confab_ws_connections",
        "confab-media": "confab_render_queue_wait_seconds",
    }
    assert set(wanted.values()) <= served
    for rule in _rules():
        assert set(rule["resources"]["overrides"]) == {"namespace", "pod"}
        assert re.fullmatch(rule["name"]["matches"], _SERIES.findall(rule["seriesQuery"])[0])
        assert "<<.LabelMatchers>>" in rule["metricsQuery"]
        assert "<<.GroupBy>>" in rule["metricsQuery"]


def test_rules_name_series_a_live_node_exports(tmp_path: Path) -> None:
    env = {"CONFAB_LOG_LEVEL": "WARNING", "CONFAB_MEDIA_RENDER_PROCESSES": "1"}
    with confab_server(tmp_path / "node", env=env) as node:
        text = httpx.get(f"{node.url}/metrics", timeout=10).text
    exported = {
        sample.name for family in text_string_to_metric_families(text) for sample in family.samples
    }
    for rule in _rules():
        named = set(_SERIES.findall(rule["seriesQuery"] + " " + rule["metricsQuery"]))
        assert named, rule
        missing = named - exported
        assert not missing, f"rule for {rule['name']['as']} names series no node exports: {missing}"
    # And the other scaling signals of issue 13 are there too.
    for name in (
        "confab_ws_frames_received_total",
        "confab_ws_deliveries_total",
        "confab_ws_send_queue_bytes",
        "confab_event_loop_lag_seconds_bucket",
        "confab_render_queue_depth",
    ):
        assert name in exported, name
