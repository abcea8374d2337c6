"""Every HTTP response a test gets is checked against the published OpenAPI document.

`checked_client(base_url)` is an `httpx.AsyncClient` whose response hook finds the
documented operation of each `/api` request (path template and method), fails the test if
the status is not documented for it, and validates the JSON body against the documented
schema with jsonschema (204s must have no body). The document is fetched from the server
itself (`/api/openapi.json`), so the test checks what is published, not a copy.
"""

from __future__ import annotations

from typing import Any

import httpx
import jsonschema

from confab.core import jsoncodec


def _matches(template: list[str], parts: list[str]) -> bool:
    return len(template) == len(parts) and all(
        t == p or (t.startswith("{") and t.endswith("}") and p != "")
        for t, p in zip(template, parts, strict=True)
    )


class OpenApiChecker:
    """Validates responses against one OpenAPI 3.1 document."""

    def __init__(self, document: dict[str, Any]) -> None:
        self._document = document
        self._routes: list[tuple[list[str], dict[str, Any]]] = [
            (template.split("/"), item) for template, item in document["paths"].items()
        ]
        self.checked = 0

    def operation(self, method: str, path: str) -> dict[str, Any] | None:
        """The documented operation of `method path`, or None if none matches."""
        parts = path.split("/")
        for template, item in self._routes:
            if _matches(template, parts) and method.lower() in item:
                found: dict[str, Any] = item[method.lower()]
                return found
        return None

    def check(self, method: str, path: str, status: int, body: bytes) -> None:
        """Assert `status` and `body` are what the document promises for the request."""
        operation = self.operation(method, path)
        assert operation is not None, f"{method} {path} is not in the OpenAPI document"
        responses = operation["responses"]
        assert str(status) in responses, (
            f"{method} {path} answered {status}, documented: {sorted(responses)}: {body[:200]!r}"
        )
        content = responses[str(status)].get("content")
        if content is None:
            assert body == b"", f"{method} {path} {status} should have no body"
        else:
            schema = content["application/json"]["schema"]
            root = {**schema, "components": self._document["components"]}
            jsonschema.validate(jsoncodec.loads(body), root)
        self.checked += 1


async def openapi_checker(base_url: str) -> OpenApiChecker:
    """The checker of the document `base_url` publishes."""
    async with httpx.AsyncClient(base_url=base_url) as http:
        response = await http.get("/api/openapi.json")
        assert response.status_code == 200
        return OpenApiChecker(response.json())


def checked_client(base_url: str, checker: OpenApiChecker, **options: Any) -> httpx.AsyncClient:
    """An async client whose every /api response is checked against the document."""

    async def hook(response: httpx.Response) -> None:
        path = response.request.url.path
        if not path.startswith("/api/") or path == "/api/openapi.json":
            return
        await response.aread()
        checker.check(response.request.method, path, response.status_code, response.content)

    return httpx.AsyncClient(base_url=base_url, event_hooks={"response": [hook]}, **options)
