"""betting.api.web: the pages, their modules and the SDK builds, and nothing else on disk."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from starlette.applications import Starlette

from betting.api.web import WEB_DIR, web_routes

MODULES = WEB_DIR / "node_modules"


def client_of(web_dir: Path) -> httpx.AsyncClient:
    app = Starlette(routes=web_routes(web_dir))
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://web")


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    async with client_of(WEB_DIR) as http:
        yield http


async def test_pages(client: httpx.AsyncClient) -> None:
    for path, marker in [("/", "sign-in-form"), ("/console", "token-form")]:
        response = await client.get(path)
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/html")
        assert marker in response.text


async def test_page_modules_are_served_as_javascript(client: httpx.AsyncClient) -> None:
    for path in ["/static/js/bettor/main.js", "/static/js/console/main.js", "/static/css/base.css"]:
        assert (await client.get(path)).status_code == 200, path
    assert "javascript" in (await client.get("/static/js/lib/money.js")).headers["content-type"]


async def test_the_service_worker_and_the_icon_are_served(client: httpx.AsyncClient) -> None:
    worker = await client.get("/sw.js")
    assert worker.status_code == 200
    assert "javascript" in worker.headers["content-type"]
    assert "notificationclick" in worker.text
    icon = await client.get("/static/favicon.svg")
    assert icon.status_code == 200 and icon.headers["content-type"].startswith("image/svg")


@pytest.mark.skipif(not MODULES.is_dir(), reason="npm ci in web/ first")
async def test_the_sdk_builds_are_served(client: httpx.AsyncClient) -> None:
    module = await client.get("/vendor/ably/build/modular/index.mjs")
    assert module.status_code == 200 and "javascript" in module.headers["content-type"]
    decoder = await client.get("/vendor/@ably/vcdiff-decoder/dist/vcdiff-decoder.min.js")
    assert decoder.status_code == 200


@pytest.mark.parametrize(
    "path",
    [
        "/static/node_modules/ably/package.json",
        "/static/package.json",
        "/static/package-lock.json",
        "/static/../pyproject.toml",
        "/vendor/ably/package.json",
        "/vendor/ably/src/index.ts",
        "/vendor/ws/package.json",
        "/vendor/@ably/vcdiff-decoder/package.json",
    ],
)
async def test_nothing_else_is_reachable(client: httpx.AsyncClient, path: str) -> None:
    assert (await client.get(path)).status_code == 404


async def test_a_missing_node_modules_does_not_stop_the_routes(tmp_path: Path) -> None:
    (tmp_path / "index.html").write_text("<p>bettor</p>")
    (tmp_path / "console.html").write_text("<p>console</p>")
    async with client_of(tmp_path) as client:
        assert (await client.get("/")).text == "<p>bettor</p>"
        assert (await client.get("/vendor/ably/build/ably.js")).status_code == 404
