"""maghub's web console: the built single-page app (``console/`` in the repository, built into the
package's ``api/console`` folder) served at ``/ui/``, and ``/`` sending browsers there.

Hashed files under ``/ui/assets/`` never change, so they are cached for a year; every other path
under ``/ui/`` is a client-side route and gets ``index.html``, which is never cached (it names the
current hashed files). API clients asking for ``/`` keep the 404 they always had.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.responses import FileResponse, JSONResponse, PlainTextResponse, RedirectResponse, Response

CONSOLE_DIR = Path(__file__).parent.parent / "console"  # api/console: package data
CONSOLE_PREFIX = "/ui"
IMMUTABLE = "public, max-age=31536000, immutable"
REVALIDATE = "no-cache"
NOT_BUILT = (
    "maghub's web console is not built in this installation. From a clone of the repository: "
    "cd console && npm ci && npm run build"
)


def _wants_html(request: Request) -> bool:
    return "text/html" in request.headers.get("accept", "")


def mount_console(app: FastAPI, root: Path = CONSOLE_DIR) -> None:
    # The build is part of the installed package and does not change while maghub runs: listed once
    # here, so a request never touches the disk to decide, and no path can lead outside the folder.
    files = {path.relative_to(root).as_posix(): path for path in root.rglob("*") if path.is_file()}
    index = files.get("index.html")

    def index_page() -> Response:
        if index is None:
            return PlainTextResponse(NOT_BUILT, status_code=503)
        return FileResponse(index, media_type="text/html", headers={"Cache-Control": REVALIDATE})

    @app.api_route("/", methods=["GET", "HEAD"], include_in_schema=False)
    async def home(request: Request) -> Response:
        if _wants_html(request):
            return RedirectResponse(f"{CONSOLE_PREFIX}/", status_code=307)
        return JSONResponse({"detail": "Not Found"}, status_code=404)

    @app.api_route(CONSOLE_PREFIX, methods=["GET", "HEAD"], include_in_schema=False)
    async def console_root() -> Response:
        return RedirectResponse(f"{CONSOLE_PREFIX}/", status_code=307)

    @app.api_route(CONSOLE_PREFIX + "/{path:path}", methods=["GET", "HEAD"], include_in_schema=False)
    async def console(path: str) -> Response:
        if path.startswith("assets/"):
            asset = files.get(path)
            if asset is None:  # a stale hashed name must not get index.html as JavaScript
                return PlainTextResponse("Not Found", status_code=404)
            return FileResponse(asset, headers={"Cache-Control": IMMUTABLE})
        if path and path != "index.html" and (static := files.get(path)) is not None:
            return FileResponse(static, headers={"Cache-Control": REVALIDATE})
        return index_page()
