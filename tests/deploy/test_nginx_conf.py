"""deploy/nginx.conf.template: renders, agrees with deploy/nginx.conf, passes `nginx -t`
without root, and keeps the rules the fleet depends on."""

from __future__ import annotations

import re
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.conftest import skip_or_fail
from tests.deploy.nginx import (
    COMPOSE_CONF_PATH,
    NginxSite,
    check_config,
    compose_conf,
    media_max_body_bytes,
    nginx_binary,
    prepare_prefix,
    render,
)


@dataclass
class Block:
    """One nginx directive: its name, arguments and (for blocks) its children."""

    name: str
    args: list[str]
    children: list[Block] = field(default_factory=list)

    def find(self, name: str, *args: str) -> list[Block]:
        return [
            c
            for c in self.children
            if c.name == name and (not args or c.args[: len(args)] == list(args))
        ]

    def one(self, name: str, *args: str) -> Block:
        found = self.find(name, *args)
        assert len(found) == 1, f"expected one {name} {args} in {self.name} {self.args}"
        return found[0]

    def values(self, name: str) -> list[list[str]]:
        return [c.args for c in self.find(name)]

    def walk(self) -> Iterator[Block]:
        for child in self.children:
            yield child
            yield from child.walk()


_TOKEN = re.compile(r"""'(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*"|[{};]|[^\s{};'"]+""")


def parse(text: str) -> Block:
    """A small parser of nginx's syntax: enough to check directives, not to run them."""
    text = "\n".join(re.sub(r"(^|\s)#.*$", "", line) for line in text.splitlines())
    root = Block("<root>", [])
    stack = [root]
    words: list[str] = []
    for token in _TOKEN.findall(text):
        if token == "{":
            block = Block(words[0], words[1:])
            stack[-1].children.append(block)
            stack.append(block)
            words = []
        elif token == ";":
            stack[-1].children.append(Block(words[0], words[1:]))
            words = []
        elif token == "}":
            assert not words, f"unterminated directive {words}"
            stack.pop()
        else:
            words.append(token.strip("'\""))
    assert len(stack) == 1 and not words, "unbalanced braces"
    return root


def _size_bytes(value: str) -> int:
    units = {"k": 1024, "m": 1024 * 1024, "g": 1024 * 1024 * 1024}
    suffix = value[-1].lower()
    return int(value[:-1]) * units[suffix] if suffix in units else int(value)


def _seconds(value: str) -> float:
    units = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400}
    match = re.fullmatch(r"(\d+)(ms|s|m|h|d)?", value)
    assert match, value
    return int(match[1]) * units[match[2] or "s"]


@pytest.fixture
def conf() -> Block:
    return parse(compose_conf())


def _server(conf: Block) -> Block:
    return conf.one("http").one("server")


def test_committed_compose_conf_is_the_rendered_template() -> None:
    assert COMPOSE_CONF_PATH.read_text() == compose_conf(), (
        "deploy/nginx.conf is stale: run `.venv/bin/python -m tests.deploy.nginx --write`"
    )


def test_every_placeholder_is_filled_and_nginx_variables_survive() -> None:
    text = render(NginxSite(chat=["a:1"], media=["b:2"]))
    assert not re.search(r"\$\{[A-Z_]+\}", text)
    for variable in ("$http_upgrade", "$connection_upgrade", "$proxy_add_x_forwarded_for"):
        assert variable in text
    with pytest.raises(KeyError):
        render(NginxSite(chat=["a:1"], media=["b:2"]), template="listen ${NOT_A_VALUE};")


@pytest.mark.parametrize("bad", [[], ["no-port"], ["a:1; evil"], ["a:1 backup"]])
def test_upstream_addresses_are_checked(bad: list[str]) -> None:
    with pytest.raises(ValueError):
        render(NginxSite(chat=bad, media=["b:2"]))


def test_routes(conf: Block) -> None:
    server = _server(conf)
    assert server.one("location", "/media/").one("proxy_pass").args == ["http://confab_media"]
    for path in ("/api", "/ws", "/"):
        assert server.one("location", path).one("proxy_pass").args == ["http://confab_chat"]


def test_upstreams_have_passive_health_checks_and_no_affinity(conf: Block) -> None:
    http = conf.one("http")
    for name in ("confab_chat", "confab_media"):
        upstream = http.one("upstream", name)
        servers = upstream.find("server")
        assert servers
        for server in servers:
            assert any(a.startswith("max_fails=") for a in server.args)
            assert any(a.startswith("fail_timeout=") for a in server.args)
        for sticky in ("ip_hash", "hash", "sticky", "least_conn"):
            assert not upstream.find(sticky), f"{name} must not pin clients ({sticky})"


def test_retries_only_what_is_safe(conf: Block) -> None:
    server = _server(conf)
    conditions = server.one("proxy_next_upstream").args
    assert {"error", "timeout", "http_503"} <= set(conditions)
    # Confab answers 502/504 for a failed *source*: never a reason to try another node.
    assert not {"http_502", "http_504", "non_idempotent"} & set(conditions)
    # ...and no location loosens that for itself.
    for location in server.find("location"):
        assert not any(b.name.startswith("proxy_next_upstream") for b in location.walk())


def test_websocket_location(conf: Block) -> None:
    ws = _server(conf).one("location", "/ws")
    headers = {args[0].lower(): args[1] for args in ws.values("proxy_set_header")}
    assert headers["upgrade"] == "$http_upgrade"
    assert headers["connection"] == "$connection_upgrade"
    assert ws.one("proxy_http_version").args == ["1.1"]
    assert ws.one("proxy_buffering").args == ["off"]
    assert _seconds(ws.one("proxy_read_timeout").args[0]) >= 3600
    assert _seconds(ws.one("proxy_send_timeout").args[0]) >= 3600
    upgrade_map = conf.one("http").one("map", "$http_upgrade", "$connection_upgrade")
    assert upgrade_map.one("default").args == ["upgrade"]


def test_every_proxied_location_forwards_client_and_scheme(conf: Block) -> None:
    # proxy_set_header is inherited only by a block that sets none itself: check each one.
    for location in _server(conf).find("location"):
        if not location.find("proxy_pass"):
            continue
        headers = {args[0].lower(): args[1] for args in location.values("proxy_set_header")}
        assert headers.get("x-forwarded-for") == "$proxy_add_x_forwarded_for", location.args
        assert headers.get("x-forwarded-proto") == "$scheme", location.args
        # /ws keeps the port: the node checks the page's Origin against it.
        expected_host = "$http_host" if location.args == ["/ws"] else "$host"
        assert headers.get("host") == expected_host, location.args
        # Keepalive to the nodes needs HTTP/1.1 everywhere.
        assert location.one("proxy_http_version").args == ["1.1"]


def test_media_body_cap_matches_the_upload_cap(conf: Block) -> None:
    media = _server(conf).one("location", "/media/")
    cap = _size_bytes(media.one("client_max_body_size").args[0])
    assert media_max_body_bytes() <= cap < media_max_body_bytes() + 1024 * 1024
    assert media_max_body_bytes() >= 50 * 1024 * 1024


def test_runtime_paths_follow_the_prefix(tmp_path: Path) -> None:
    site = NginxSite.under_prefix(tmp_path, chat=["127.0.0.1:1"], media=["127.0.0.1:2"])
    root = parse(render(site))
    http = root.one("http")
    paths = [root.one("pid").args[0], root.one("error_log").args[0], http.one("access_log").args[0]]
    paths += [
        http.one(f"{kind}_temp_path").args[0]
        for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    ]
    for path in paths:
        assert Path(path).is_relative_to(tmp_path), path


@pytest.fixture
def nginx() -> str:
    binary = nginx_binary()
    if binary is None:
        skip_or_fail("nginx is not installed (apt-get install nginx)")
    assert binary is not None
    return binary


@pytest.mark.parametrize("servers", [1, 3])
def test_nginx_accepts_the_rendered_config_without_root(nginx: str, servers: int) -> None:
    prefix = Path(tempfile.mkdtemp(prefix="confab-nginx-t-"))
    try:
        chat = [f"127.0.0.1:{9100 + i}" for i in range(servers)]
        site = NginxSite.under_prefix(
            prefix, chat=chat, media=["127.0.0.1:9200"], listen="127.0.0.1:18999"
        )
        conf = prepare_prefix(prefix, site)
        result = check_config(nginx, prefix, conf)
        assert result.returncode == 0, result.stderr
        assert "test is successful" in result.stderr
        assert "[warn]" not in result.stderr and "[emerg]" not in result.stderr, result.stderr
    finally:
        shutil.rmtree(prefix, ignore_errors=True)


def test_nginx_rejects_a_broken_rendering(nginx: str) -> None:
    # The check above means something only if nginx -t fails on a broken file.
    prefix = Path(tempfile.mkdtemp(prefix="confab-nginx-t-"))
    try:
        site = NginxSite.under_prefix(
            prefix, chat=["127.0.0.1:9100"], media=["127.0.0.1:9200"], listen="127.0.0.1:18999"
        )
        conf = prepare_prefix(prefix, site)
        conf.write_text(conf.read_text().replace("proxy_buffering off;", "proxy_buffering maybe;"))
        result = check_config(nginx, prefix, conf)
        assert result.returncode != 0
        assert "proxy_buffering" in result.stderr
    finally:
        shutil.rmtree(prefix, ignore_errors=True)


def test_ws_logs_no_query_string_and_tls_gets_hsts(conf: Block) -> None:
    ws = _server(conf).one("location", "/ws")
    (log,) = ws.values("access_log")
    formats = {args[0]: " ".join(args[1:]) for args in conf.one("http").values("log_format")}
    variables = set(re.findall(r"\$[a-z_]+", formats[log[1]]))
    # $request, $request_uri, $args and $query_string would all carry the ticket.
    assert not variables & {"$request", "$request_uri", "$args", "$query_string"}
    assert "$uri" in variables
    hsts = conf.one("http").one("map", "$https", "$confab_hsts")
    assert hsts.one("on").args[0].startswith("max-age=")
    assert hsts.one("default").args == [""]
    added = {args[0]: args[1:] for args in _server(conf).values("add_header")}
    assert added["Strict-Transport-Security"] == ["$confab_hsts", "always"]


def test_metrics_are_refused_at_the_edge(conf: Block) -> None:
    metrics = _server(conf).one("location", "=", "/metrics")
    assert metrics.one("return").args == ["404"]
