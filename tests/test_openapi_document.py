"""The OpenAPI document's promises one by one, and the API docs page working offline (the whole API
against the document: test_openapi_contract.py)."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable

import pytest

from maghub.api.openapi.document import DOMAIN_STATUSES
from maghub.testing.harness import RunningMaghub


async def _document(maghub: RunningMaghub) -> dict:
    response = await maghub.client.get("/openapi.json")
    assert response.status_code == 200
    return response.json()


def _operations(document: dict):
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            yield path, method, operation


@pytest.mark.parametrize(("page", "script"), [("/docs", "swagger-ui-bundle.js"), ("/redoc", "redoc.standalone.js")])
async def test_docs_pages_load_their_assets_from_maghub_itself(maghub: RunningMaghub, page: str, script: str) -> None:
    html = await maghub.client.get(page)
    assert html.status_code == 200
    assert "text/html" in html.headers["content-type"]
    assert "://" not in html.text, "the docs page must not load anything from another host"
    assets = re.findall(r"""(?:src|href)=["']?(/[^"' >]+)""", html.text)
    assert any(asset.endswith(script) for asset in assets)
    for asset in assets:
        response = await maghub.client.get(asset)
        assert response.status_code == 200, asset
        assert len(response.content) > 100, asset
    swagger_ui = await maghub.client.get("/docs/assets/swagger-ui-bundle.js")
    assert re.search(r'PACKAGE_VERSION:"5\.', swagger_ui.text), "Swagger UI 4 cannot render OpenAPI 3.1"


async def test_every_operation_documents_its_errors_with_their_bodies(maghub: RunningMaghub) -> None:
    document = await _document(maghub)
    assert {"MagError", "HubError"} <= set(document["components"]["schemas"])
    assert "HTTPValidationError" not in document["components"]["schemas"]
    for path, method, operation in _operations(document):
        responses = operation["responses"]
        assert "503" in responses, (method, path)
        hub = path.startswith(("/api/servers", "/api/auth"))
        body = "HubError" if hub else "MagError"
        for status, response in responses.items():
            if status.startswith(("4", "5")):
                schema = response["content"]["application/json"]["schema"]
                assert schema == {"$ref": f"#/components/schemas/{body}"}, (method, path, status)
        if hub:
            assert "422" not in responses, (method, path)  # the hub answers schema problems as 400
        if "requestBody" in operation:
            assert {"400", "413"} <= set(responses), (method, path)
        if "{" in path:
            assert "404" in responses, (method, path)
        if method in ("post", "put", "delete"):
            assert "403" in responses, (method, path)  # the cross-site request guard


async def test_success_bodies_are_typed(maghub: RunningMaghub) -> None:
    document = await _document(maghub)
    untyped = []
    for path, method, operation in _operations(document):
        success = next(response for status, response in operation["responses"].items() if status.startswith("2"))
        content = success.get("content", {})
        schema = content.get("application/json", {}).get("schema")
        if schema is None:
            # streams, packages, and the Prometheus text format of /metrics
            assert {"text/event-stream", "application/zip", "text/plain"} & set(content), (method, path)
            continue
        if schema == {} or schema.get("additionalProperties") is True and "properties" not in schema:
            untyped.append(f"{method.upper()} {path}")
    assert not untyped
    chat = document["paths"]["/chat/completions"]["post"]["responses"]["200"]
    assert set(chat["content"]) == {"application/json", "text/event-stream"}
    assert "node_start" in document["paths"]["/graphs/execute"]["post"]["responses"]["200"]["description"]


async def test_token_is_optional_in_local_mode_except_where_always_needed(maghub: RunningMaghub) -> None:
    document = await _document(maghub)
    security = {(method, path): operation.get("security") for path, method, operation in _operations(document)}
    optional, required = [{}, {"HTTPBearer": []}], [{"HTTPBearer": []}]
    assert security[("get", "/models")] == optional
    assert security[("post", "/api/servers/validate")] == optional
    assert security[("get", "/api/servers")] == required
    assert security[("get", "/api/auth/me")] == required
    assert security[("post", "/api/auth/login")] is None


async def test_token_is_required_everywhere_in_auth_mode(secured: RunningMaghub) -> None:
    document = await _document(secured)
    for path, method, operation in _operations(document):
        if path in ("/health", "/api/health", "/api/auth/login"):
            assert "security" not in operation
            continue
        assert operation["security"] == [{"HTTPBearer": []}], (method, path)
        assert "401" in operation["responses"], (method, path)
    assert "403" in document["paths"]["/models"]["post"]["responses"]  # admins only


def test_the_domain_status_table_names_real_routes() -> None:
    from maghub.api.app import create_app
    from maghub.api.openapi.routing import api_routes

    names = {route.name for route in api_routes(create_app().routes)}
    assert set(DOMAIN_STATUSES) <= names


async def test_method_not_allowed_lists_the_paths_methods(maghub: RunningMaghub) -> None:
    response = await maghub.client.request("OPTIONS", "/graphs")
    assert response.status_code == 405
    assert response.headers["allow"] == "GET, POST"
    fixed = await maghub.client.request("OPTIONS", "/graphs/import")  # not GET /graphs/{graph_name}
    assert fixed.headers["allow"] == "POST"


async def test_errors_before_routing_use_the_hub_envelope_on_hub_paths(
    secured: RunningMaghub, sign_in: Callable[[str], Awaitable[dict[str, str]]]
) -> None:
    headers = await sign_in("root")
    too_big = "x" * (secured.settings.max_body_bytes + 1)
    response = await secured.client.post(
        "/api/servers", content=too_big, headers={**headers, "Content-Type": "application/json"}
    )
    assert response.status_code == 413
    body = response.json()
    assert body["success"] is False and body["error"]["code"] == "PAYLOAD_TOO_LARGE"
    cross_site = await secured.client.post(
        "/api/servers", json={"id": "x", "config": {}}, headers={**headers, "Origin": "https://evil.example"}
    )
    assert cross_site.status_code == 403
    assert cross_site.json()["error"]["code"] == "FORBIDDEN"
    mag = await secured.client.post("/graphs", content=too_big, headers={**headers, "Content-Type": "application/json"})
    assert mag.status_code == 413 and "detail" in mag.json()
