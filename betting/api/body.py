"""Request bodies read with a bound enforced while reading, for the Starlette APIs.

Starlette's `request.body()` reads everything the client sends before the caller can look at
its size; here the declared Content-Length is checked first (strict ASCII digits, bounded),
and the stream is abandoned as soon as it passes the limit, so a 32 MB body costs at most
`limit` bytes of memory whatever its headers claim.
"""

from __future__ import annotations

from starlette.requests import Request

from betting.domain.errors import InvalidValue
from betting.domain.numbers import parse_int

CONTENT_LENGTH_DIGITS_MAX = 12


class BodyRefused(Exception):
    """The body cannot be read within the limit: answer `status` (400 or 413)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


async def bounded_body(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared is not None:
        try:
            length = parse_int(declared, "Content-Length", digits_max=CONTENT_LENGTH_DIGITS_MAX)
        except InvalidValue:
            raise BodyRefused(400, "malformed Content-Length") from None
        if length > limit:
            raise BodyRefused(413, f"body larger than {limit} bytes")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise BodyRefused(413, f"body larger than {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)
