"""The web pages: the bettor page, the operator console, their modules and the vendored SDK.

Plain files, no build step. The SDK and its delta decoder are served from web/node_modules
(`npm ci` in web/), but only their browser builds: nothing else in node_modules is reachable.
"""

from __future__ import annotations

from pathlib import Path

from starlette.requests import Request
from starlette.responses import FileResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import Scope

WEB_DIR = Path(__file__).resolve().parents[2] / "web"
# URL path under /vendor -> folder under web/node_modules: the browser builds only.
VENDOR_FOLDERS = {
    "ably/build": "ably/build",
    "@ably/vcdiff-decoder/dist": "@ably/vcdiff-decoder/dist",
}
# Top-level names under web/ that /static must not serve.
NOT_STATIC = frozenset({"node_modules", "package.json", "package-lock.json"})


class PageFiles(StaticFiles):
    """web/ as static files, minus node_modules and the npm manifests."""

    async def get_response(self, path: str, scope: Scope) -> Response:
        top = Path(path).parts[0] if Path(path).parts else ""
        if top in NOT_STATIC or top.startswith("."):
            return Response("Not Found", 404, media_type="text/plain")
        return await super().get_response(path, scope)


def page(url_path: str, file: Path) -> Route:
    async def endpoint(request: Request) -> FileResponse:
        return FileResponse(file, media_type="text/html", headers={"Cache-Control": "no-cache"})

    return Route(url_path, endpoint, methods=["GET"])


def script(url_path: str, file: Path) -> Route:
    async def endpoint(request: Request) -> FileResponse:
        return FileResponse(
            file, media_type="text/javascript", headers={"Cache-Control": "no-cache"}
        )

    return Route(url_path, endpoint, methods=["GET"])


def web_routes(web_dir: Path = WEB_DIR) -> list[BaseRoute]:
    """`/` the bettor page, `/console` the operator console, `/sw.js` the bettor page's
    service worker, `/static` web/, `/vendor` the SDK builds. Without node_modules (no
    `npm ci` yet) the server still starts; the vendor files answer 404 and the pages cannot
    connect."""
    modules = web_dir / "node_modules"
    vendor: list[BaseRoute] = [
        Mount(f"/{url_path}", app=StaticFiles(directory=modules / folder))
        for url_path, folder in VENDOR_FOLDERS.items()
        if (modules / folder).is_dir()
    ]
    return [
        page("/", web_dir / "index.html"),
        page("/console", web_dir / "console.html"),
        # At the root, so its scope is the bettor page.
        script("/sw.js", web_dir / "sw.js"),
        Mount("/static", app=PageFiles(directory=web_dir), name="static"),
        Mount("/vendor", routes=vendor, name="vendor"),
    ]
