"""The app's operations as routes, for the OpenAPI document and the ``Allow`` header."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from fastapi import routing as fastapi_routing


def api_routes(routes: Iterable[Any]) -> Iterable[Any]:
    """The operations' routes with their effective dependencies (FastAPI 0.16x keeps included
    routers as contexts around the original routes)."""
    contexts = getattr(fastapi_routing, "iter_route_contexts", None)
    for route in contexts(list(routes)) if contexts else routes:
        if getattr(route, "dependant", None) is not None:
            yield route


def allowed_methods(routes: Iterable[Any], path: str) -> list[str]:
    """The methods of the most specific documented path matching ``path``: a fixed path such as
    ``/graphs/import`` wins over ``/graphs/{graph_name}``, as the OpenAPI document lists them."""
    fixed: set[str] = set()
    templated: set[str] = set()
    for route in api_routes(routes):
        if route.path_regex.match(path):
            (templated if "{" in route.path_format else fixed).update(route.methods or ())
    return sorted(fixed or templated)
