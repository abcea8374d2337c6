"""deploy/compose.yaml and deploy/Dockerfile: the Compose Specification schema, then what
the schema cannot see (dependencies, settings names, ports shared with nginx.conf)."""

from __future__ import annotations

import json
import re
import shlex
import tomllib
from importlib import resources
from pathlib import Path
from typing import Any, get_args

import jsonschema
import pytest
import yaml

from confab.core.settings import Role
from tests.deploy.nginx import COMPOSE_CONF_PATH, compose_site
from tests.deploy.settings_names import unknown_names

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
COMPOSE_PATH = DEPLOY / "compose.yaml"
DOCKERFILE_PATH = DEPLOY / "Dockerfile"
CONFAB_SERVICES = ("migrate", "chat", "media", "worker")
NODE_SERVICES = ("chat", "media", "worker")
# `confab` subcommands the deploy files run (serve exists; worker and migrate are issue 4's).
SUBCOMMANDS = {"serve", "worker", "migrate"}


def compose_schema() -> dict[str, Any]:
    """The Compose Specification schema, as check-jsonschema ships it (via SchemaStore)."""
    vendor = resources.files("check_jsonschema.builtin_schemas.vendor")
    schema: dict[str, Any] = json.loads((vendor / "compose-spec.json").read_text())
    return schema


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(COMPOSE_PATH.read_text())
    return data


def _errors(document: dict[str, Any]) -> list[str]:
    schema = compose_schema()
    # The draft the schema declares (2020-12 today: it relies on unevaluatedProperties).
    validator = jsonschema.validators.validator_for(schema)(schema)
    return [f"{list(e.absolute_path)}: {e.message}" for e in validator.iter_errors(document)]


def test_compose_file_follows_the_compose_specification(compose: dict[str, Any]) -> None:
    assert compose_schema()["title"] == "Compose Specification"
    assert _errors(compose) == []


def test_schema_check_catches_mistakes(compose: dict[str, Any]) -> None:
    # The check above is only worth something if the schema rejects a broken file.
    broken = json.loads(json.dumps(compose))
    broken["services"]["chat"]["depends_on"]["migrate"]["condition"] = "service_finished"
    broken["services"]["media"]["helthcheck"] = {"test": ["CMD", "true"]}
    errors = _errors(broken)
    assert any("depends_on" in e for e in errors)
    assert any("helthcheck" in e for e in errors)


def test_every_service_has_an_image_or_a_build(compose: dict[str, Any]) -> None:
    for name, service in compose["services"].items():
        assert "image" in service or "build" in service, name


def test_confab_services_build_from_the_dockerfile(compose: dict[str, Any]) -> None:
    for name in CONFAB_SERVICES:
        build = compose["services"][name]["build"]
        context = (DEPLOY / build["context"]).resolve()
        assert (context / build["dockerfile"]).resolve() == DOCKERFILE_PATH, name
        assert (context / "pyproject.toml").is_file(), "the build context is the repository"


def test_nodes_wait_for_the_migration(compose: dict[str, Any]) -> None:
    services = compose["services"]
    for name in NODE_SERVICES:
        depends = services[name]["depends_on"]
        assert depends["migrate"]["condition"] == "service_completed_successfully", name
        assert depends["postgres"]["condition"] == "service_healthy", name
        assert depends["redis"]["condition"] == "service_healthy", name
    assert services["migrate"]["depends_on"]["postgres"]["condition"] == "service_healthy"
    assert services["migrate"]["restart"] == "no"


def test_replicas_volumes_and_healthchecks(compose: dict[str, Any]) -> None:
    services = compose["services"]
    for name in NODE_SERVICES:
        assert services[name]["deploy"]["replicas"] >= 2, name
        # Uploads and thumbnails: one folder for every node and worker.
        assert "blobs:/shared" in services[name]["volumes"], name
        assert services[name]["environment"]["CONFAB_BLOBS_URL"] == "file:///shared"
    for name in ("postgres", "redis", "chat", "media", "nginx"):
        check = services[name]["healthcheck"]
        assert not check.get("disable") and check["test"], name
    for name in ("chat", "media"):
        assert "/healthz" in " ".join(services[name]["healthcheck"]["test"]), name
    # The worker's probe: a ping through the broker, by the CLI the image runs.
    assert services["worker"]["healthcheck"]["test"][1:] == ["confab", "worker", "--ping"]
    declared = set(compose["volumes"])
    for name, service in services.items():
        for volume in service.get("volumes", []):
            source = volume.split(":", 1)[0]
            if not source.startswith((".", "/")):
                assert source in declared, f"{name}: volume {source} is not declared"


def test_environment_names_are_settings(compose: dict[str, Any]) -> None:
    names = [
        key
        for service in compose["services"].values()
        for key in (service.get("environment") or {})
    ]
    assert "CONFAB_DATABASE_URL" in names
    assert unknown_names(names) == []
    assert unknown_names(["CONFAB_DATABSE_URL"]) == ["CONFAB_DATABSE_URL"]


def test_backends_are_the_distributed_ones(compose: dict[str, Any]) -> None:
    env = compose["services"]["chat"]["environment"]
    assert env["CONFAB_DATABASE_URL"].startswith("postgresql+asyncpg://confab:")
    assert env["CONFAB_DATABASE_URL"].endswith("@postgres:5432/confab")
    assert env["CONFAB_BUS_URL"].startswith("redis://redis:6379/")
    assert env["CONFAB_JOBS_URL"].startswith("redis://redis:6379/")
    # Bus and queue in separate Redis databases: a queue scan never meets pub/sub keys.
    assert env["CONFAB_BUS_URL"] != env["CONFAB_JOBS_URL"]
    # Secrets come from the environment (deploy/.env), never from this file.
    assert "${CONFAB_MEDIA_SECURITY_KEY:?" in env["CONFAB_MEDIA_SECURITY_KEY"]
    assert "${POSTGRES_PASSWORD:?" in env["CONFAB_DATABASE_URL"]


def _command(service: dict[str, Any]) -> list[str]:
    command = service["command"]
    return shlex.split(command) if isinstance(command, str) else list(command)


def test_commands_and_ports_agree_with_nginx(compose: dict[str, Any]) -> None:
    services = compose["services"]
    for name in CONFAB_SERVICES:
        assert _command(services[name])[0] in SUBCOMMANDS, name
    upstreams = {"chat": compose_site().chat, "media": compose_site().media}
    for role, addresses in upstreams.items():
        command = _command(services[role])
        assert command[0] == "serve"
        roles = command[command.index("--roles") + 1].split(",")
        assert set(roles) <= set(get_args(Role)) and roles == [role]
        port = command[command.index("--port") + 1]
        assert addresses == [f"{role}:{port}"], "nginx.conf must name the service and its port"
    nginx = services["nginx"]
    assert f"./{COMPOSE_CONF_PATH.name}:/etc/nginx/nginx.conf:ro" in nginx["volumes"]
    assert {"chat", "media"} <= set(nginx["depends_on"])


def test_dockerfile() -> None:
    text = DOCKERFILE_PATH.read_text()
    stages = re.findall(r"^FROM\s+(\S+)", text, flags=re.MULTILINE)
    assert stages and all(image == "python:3.11-slim" for image in stages)
    final = text.rsplit("\nFROM ", 1)[1]
    user = re.findall(r"^USER\s+(\S+)", final, flags=re.MULTILINE)
    assert user and user[-1].split(":")[0] not in ("root", "0")
    assert re.search(r'^ENTRYPOINT \["confab"\]', final, flags=re.MULTILINE)
    scripts = tomllib.loads((DEPLOY.parent / "pyproject.toml").read_text())["project"]["scripts"]
    assert scripts["confab"] == "confab.cli:main", "the entrypoint is the package's script"
    assert re.search(r"^HEALTHCHECK .*\n?.*/healthz", final, flags=re.MULTILINE)
    env_names = re.findall(r"\b(CONFAB_[A-Z_]+)=", final)
    assert env_names and unknown_names(env_names) == []
    for source in re.findall(r"^COPY (?!--from)(.+) \S+$", text, flags=re.MULTILINE):
        for path in source.split():
            assert (DEPLOY.parent / path).exists(), f"COPY {path}: not in the build context"
