"""deploy/k8s: every built-in kind against the Kubernetes schemas (kubernetes-validate,
strict), the KEDA ScaledObject against a schema of its own, then how the objects fit together
(selectors, ports, scale targets, settings names, the queue KEDA watches)."""

from __future__ import annotations

import copy
import json
import math
from collections.abc import Iterator
from importlib.metadata import version
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import jsonschema
import kubernetes_validate
import pytest
import yaml

from confab.cli import build_parser
from tests.deploy.nginx import media_max_body_bytes
from tests.deploy.settings_names import unknown_names

K8S = Path(__file__).resolve().parents[2] / "deploy" / "k8s"
KEDA_SCHEMA_PATH = Path(__file__).with_name("keda-scaledobject.schema.json")
KUSTOMIZATION = "kustomization.yaml"
ROLES = ("chat", "media", "worker")
SUBCOMMANDS = {"serve", "worker", "migrate"}
COMPONENT = "app.kubernetes.io/component"

Doc = dict[str, Any]


def load_documents() -> list[Doc]:
    docs: list[Doc] = []
    for path in sorted(K8S.glob("*.yaml")):
        if path.name == KUSTOMIZATION:
            continue
        docs.extend(d for d in yaml.safe_load_all(path.read_text()) if d is not None)
    return docs


@pytest.fixture(scope="module")
def docs() -> list[Doc]:
    return load_documents()


def _name(doc: Doc) -> str:
    return f"{doc['kind']}/{doc['metadata']['name']}"


def _of(docs: list[Doc], kind: str) -> dict[str, Doc]:
    return {d["metadata"]["name"]: d for d in docs if d["kind"] == kind}


def _pod_specs(docs: list[Doc]) -> Iterator[tuple[str, Doc]]:
    for doc in docs:
        if doc["kind"] in ("Deployment", "Job"):
            yield _name(doc), doc["spec"]["template"]["spec"]


def _containers(docs: list[Doc]) -> Iterator[tuple[str, Doc]]:
    for name, spec in _pod_specs(docs):
        for container in spec.get("containers", []) + spec.get("initContainers", []):
            yield f"{name}/{container['name']}", container


def _builtin(docs: list[Doc]) -> list[Doc]:
    return [d for d in docs if not d["apiVersion"].startswith("keda.sh/")]


def test_kustomization_lists_every_manifest() -> None:
    kustomization = yaml.safe_load((K8S / KUSTOMIZATION).read_text())
    listed = kustomization["resources"]
    on_disk = sorted(p.name for p in K8S.glob("*.yaml") if p.name != KUSTOMIZATION)
    assert sorted(listed) == on_disk
    assert len(set(listed)) == len(listed)


def test_expected_objects_exist(docs: list[Doc]) -> None:
    kinds = {(d["kind"], d["metadata"]["name"]) for d in docs}
    for role in ROLES:
        assert ("Deployment", f"confab-{role}") in kinds
    for role in ("chat", "media"):
        assert ("Service", f"confab-{role}") in kinds
        assert ("HorizontalPodAutoscaler", f"confab-{role}") in kinds
    assert ("Service", "confab-worker") not in kinds
    assert ("Job", "confab-migrate") in kinds
    assert ("ScaledObject", "confab-worker") in kinds
    assert any(kind == "Ingress" for kind, _ in kinds)
    assert ("ConfigMap", "confab-settings") in kinds and ("Secret", "confab-secrets") in kinds
    names = [_name(d) for d in docs]
    assert len(names) == len(set(names)), "duplicate objects"


def test_builtin_kinds_pass_the_kubernetes_schemas_strictly(docs: list[Doc]) -> None:
    target = kubernetes_validate.latest_version()
    checked = set()
    for doc in _builtin(docs):
        kubernetes_validate.validate(doc, target, strict=True)
        checked.add(doc["kind"])
    assert {"Deployment", "Service", "Job", "Ingress", "HorizontalPodAutoscaler"} <= checked


@pytest.mark.parametrize(
    "breakage",
    [
        "typo_in_container",
        "replicas_as_text",
        "hpa_v1_field",
    ],
)
def test_strict_validation_catches_mistakes(docs: list[Doc], breakage: str) -> None:
    # The check above is only worth something if these mistakes fail it.
    deployment = copy.deepcopy(_of(docs, "Deployment")["confab-chat"])
    hpa = copy.deepcopy(_of(docs, "HorizontalPodAutoscaler")["confab-chat"])
    target = kubernetes_validate.latest_version()
    if breakage == "typo_in_container":
        deployment["spec"]["template"]["spec"]["containers"][0]["readinesProbe"] = {}
        broken = deployment
    elif breakage == "replicas_as_text":
        deployment["spec"]["replicas"] = "two"
        broken = deployment
    else:
        hpa["spec"]["targetCPUUtilizationPercentage"] = 70
        broken = hpa
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, target, strict=True)


def _keda_validator() -> jsonschema.protocols.Validator:
    schema = json.loads(KEDA_SCHEMA_PATH.read_text())
    validator_class = jsonschema.validators.validator_for(schema)
    validator_class.check_schema(schema)
    return validator_class(schema)


def test_scaled_object_against_the_keda_schema(docs: list[Doc]) -> None:
    scaled = [d for d in docs if d["apiVersion"].startswith("keda.sh/")]
    assert [d["kind"] for d in scaled] == ["ScaledObject"]
    errors = [e.message for e in _keda_validator().iter_errors(scaled[0])]
    assert errors == []


@pytest.mark.parametrize(
    ("path", "value"),
    [
        (("spec", "triggers", 0, "metadata", "listLength"), 10),  # KEDA wants strings
        (("spec", "scaleTargetRef", "nmae"), "confab-worker"),
        (("spec", "triggers", 0, "metadata", "address"), "redis://confab-redis:6379"),
        (("spec", "minReplicaCount"), -1),
    ],
)
def test_keda_schema_catches_mistakes(docs: list[Doc], path: tuple[Any, ...], value: Any) -> None:
    broken = copy.deepcopy(_of(docs, "ScaledObject")["confab-worker"])
    node = broken
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    assert list(_keda_validator().iter_errors(broken))


def test_keda_schema_requires_the_redis_list(docs: list[Doc]) -> None:
    broken = copy.deepcopy(_of(docs, "ScaledObject")["confab-worker"])
    del broken["spec"]["triggers"][0]["metadata"]["listName"]
    assert list(_keda_validator().iter_errors(broken))


def test_selectors_match_pod_labels(docs: list[Doc]) -> None:
    deployments = _of(docs, "Deployment")
    for name, deployment in deployments.items():
        selector = deployment["spec"]["selector"]["matchLabels"]
        labels = deployment["spec"]["template"]["metadata"]["labels"]
        assert selector.items() <= labels.items(), name
    for name, service in _of(docs, "Service").items():
        selector = service["spec"]["selector"]
        matched = [
            d
            for d in deployments.values()
            if selector.items() <= d["spec"]["template"]["metadata"]["labels"].items()
        ]
        assert len(matched) == 1, f"Service {name} selects {len(matched)} Deployments"
        ports = {
            p.get("name"): p["containerPort"]
            for c in matched[0]["spec"]["template"]["spec"]["containers"]
            for p in c.get("ports", [])
        }
        for port in service["spec"]["ports"]:
            target = port.get("targetPort", port["port"])
            assert target in ports or target in ports.values(), f"{name}: {target}"


def test_ingress_backends_exist(docs: list[Doc]) -> None:
    services = _of(docs, "Service")
    routed = {}
    for ingress in _of(docs, "Ingress").values():
        assert ingress["spec"]["ingressClassName"] == "nginx"
        for rule in ingress["spec"]["rules"]:
            for path in rule["http"]["paths"]:
                backend = path["backend"]["service"]
                service = services[backend["name"]]
                port_names = {p.get("name") for p in service["spec"]["ports"]}
                port_numbers = {p["port"] for p in service["spec"]["ports"]}
                port = backend["port"]
                assert port.get("name") in port_names or port.get("number") in port_numbers
                routed[path["path"]] = (backend["name"], ingress["metadata"]["annotations"])
    assert routed["/"][0] == "confab-chat"
    assert routed["/media"][0] == "confab-media"
    chat_notes = routed["/"][1]
    # WebSockets stay open for hours through ingress-nginx.
    assert int(chat_notes["nginx.ingress.kubernetes.io/proxy-read-timeout"]) >= 3600
    assert int(chat_notes["nginx.ingress.kubernetes.io/proxy-send-timeout"]) >= 3600
    body = routed["/media"][1]["nginx.ingress.kubernetes.io/proxy-body-size"]
    assert body.endswith("k") and int(body[:-1]) == math.ceil(media_max_body_bytes() / 1024)
    for _, notes in routed.values():
        retry = notes["nginx.ingress.kubernetes.io/proxy-next-upstream"].split()
        assert "http_502" not in retry and "http_504" not in retry


def test_scale_targets(docs: list[Doc]) -> None:
    deployments = _of(docs, "Deployment")
    targets: dict[str, str] = {}
    for kind in ("HorizontalPodAutoscaler", "ScaledObject"):
        for name, scaler in _of(docs, kind).items():
            ref = scaler["spec"]["scaleTargetRef"]
            assert ref.get("kind", "Deployment") == "Deployment", name
            assert ref.get("apiVersion", "apps/v1") == "apps/v1", name
            assert ref["name"] in deployments, f"{kind}/{name} scales a missing Deployment"
            assert ref["name"] not in targets, f"{ref['name']} has two autoscalers"
            targets[ref["name"]] = kind
    assert targets == {
        "confab-chat": "HorizontalPodAutoscaler",
        "confab-media": "HorizontalPodAutoscaler",
        "confab-worker": "ScaledObject",
    }
    for name in targets:
        # A fixed count would fight the autoscaler on every `kubectl apply`.
        assert "replicas" not in deployments[name]["spec"], name
    for hpa in _of(docs, "HorizontalPodAutoscaler").values():
        assert hpa["apiVersion"] == "autoscaling/v2"
        assert 1 <= hpa["spec"]["minReplicas"] <= hpa["spec"]["maxReplicas"]


def test_keda_watches_the_celery_queue_of_the_jobs_url(docs: list[Doc]) -> None:
    jobs_url = urlsplit(_of(docs, "ConfigMap")["confab-settings"]["data"]["CONFAB_JOBS_URL"])
    assert jobs_url.scheme == "redis"
    (trigger,) = _of(docs, "ScaledObject")["confab-worker"]["spec"]["triggers"]
    assert trigger["type"] == "redis"
    meta = trigger["metadata"]
    assert meta["listName"] == "celery"  # Celery's default queue, a Redis list
    assert meta["address"] == f"{jobs_url.hostname}:{jobs_url.port or 6379}"
    assert meta.get("databaseIndex", "0") == (jobs_url.path.strip("/") or "0")


def test_probes_resources_and_security(docs: list[Doc]) -> None:
    for name, container in _containers(docs):
        resources = container["resources"]
        for key in ("cpu", "memory"):
            assert key in resources["requests"] and key in resources["limits"], name
        assert container["securityContext"]["allowPrivilegeEscalation"] is False, name
    for name, spec in _pod_specs(docs):
        assert spec["securityContext"]["runAsNonRoot"] is True, name
    for role in ("chat", "media"):
        deployment = _of(docs, "Deployment")[f"confab-{role}"]
        (container,) = deployment["spec"]["template"]["spec"]["containers"]
        port_names = {p["name"] for p in container["ports"]}
        for probe in ("readinessProbe", "livenessProbe", "startupProbe"):
            http = container[probe]["httpGet"]
            assert http["path"] == "/healthz", (role, probe)
            assert http["port"] in port_names, (role, probe)
        shutdown = int(
            _of(docs, "ConfigMap")["confab-settings"]["data"].get(
                "CONFAB_SHUTDOWN_GRACE_SECONDS", "20"
            )
        )
        assert deployment["spec"]["template"]["spec"]["terminationGracePeriodSeconds"] > shutdown
    worker = _of(docs, "Deployment")["confab-worker"]
    (container,) = worker["spec"]["template"]["spec"]["containers"]
    assert container["livenessProbe"]["exec"]["command"] == ["confab", "worker", "--ping"]
    assert "--autoscale" in container["args"]


def test_commands_roles_and_images(docs: list[Doc]) -> None:
    tag = version("confab")
    for name, container in _containers(docs):
        assert container["image"] == f"confab:{tag}", name
        args = container["args"]
        assert args[0] in SUBCOMMANDS, name
    for role in ROLES:
        deployment = _of(docs, "Deployment")[f"confab-{role}"]
        assert deployment["spec"]["template"]["metadata"]["labels"][COMPONENT] == role
        (container,) = deployment["spec"]["template"]["spec"]["containers"]
        args = container["args"]
        if role == "worker":
            # Arguments the real CLI accepts: Celery's autoscaler within the CPU limit.
            parsed = build_parser().parse_args(args)
            assert parsed.command == "worker" and parsed.autoscale == (2, 1)
        else:
            assert args[0] == "serve" and args[args.index("--roles") + 1] == role
            port = int(args[args.index("--port") + 1])
            assert port in {p["containerPort"] for p in container["ports"]}
    (job,) = _of(docs, "Job").values()
    assert job["spec"]["template"]["spec"]["containers"][0]["args"] == ["migrate"]


def test_settings_names_and_references(docs: list[Doc]) -> None:
    config_maps = _of(docs, "ConfigMap")
    secrets = _of(docs, "Secret")
    claims = _of(docs, "PersistentVolumeClaim")
    names: list[str] = []
    for config_map in config_maps.values():
        names += list(config_map.get("data", {}))
    for secret in secrets.values():
        names += list(secret.get("stringData", {})) + list(secret.get("data", {}))
    for name, container in _containers(docs):
        names += [env["name"] for env in container.get("env", [])]
        for source in container.get("envFrom", []):
            if "configMapRef" in source:
                assert source["configMapRef"]["name"] in config_maps, name
            if "secretRef" in source:
                assert source["secretRef"]["name"] in secrets, name
    assert {"CONFAB_DATABASE_URL", "CONFAB_JOBS_URL", "CONFAB_BUS_URL"} <= set(names)
    assert unknown_names(names) == []
    for name, spec in _pod_specs(docs):
        mounts = {m["name"] for c in spec["containers"] for m in c.get("volumeMounts", [])}
        volumes = {v["name"]: v for v in spec.get("volumes", [])}
        assert mounts <= set(volumes), name
        for volume in volumes.values():
            if "persistentVolumeClaim" in volume:
                assert volume["persistentVolumeClaim"]["claimName"] in claims, name


def test_secrets_are_placeholders(docs: list[Doc]) -> None:
    # The repository never carries a real secret: every value says to replace it.
    for secret in _of(docs, "Secret").values():
        for key, value in secret["stringData"].items():
            assert "REPLACE-ME" in value, key
