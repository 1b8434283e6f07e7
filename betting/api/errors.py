"""JSON errors and bounded JSON bodies for the HTTP APIs."""

from __future__ import annotations

from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import JSONResponse

from betting.api.body import BodyRefused, bounded_body


class HttpError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def error_response(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": {"status": status, "message": message}}, status)


async def json_body(request: Request, limit: int) -> dict[str, Any]:
    """The request's JSON object, read up to `limit` bytes; anything else is a 4xx."""
    try:
        body = await bounded_body(request, limit)
    except BodyRefused as refused:
        raise HttpError(refused.status, refused.message) from None
    if not body:
        return {}
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError:
        raise HttpError(400, "body is not JSON") from None
    if not isinstance(data, dict):
        raise HttpError(400, "body must be a JSON object")
    return data
