"""A small HTTP/1.1 request reader and response writer: enough for the Ably REST subset."""

from __future__ import annotations

from dataclasses import dataclass, field
from urllib.parse import parse_qsl, urlsplit

from betting.domain.errors import InvalidValue
from betting.domain.numbers import parse_int

HEAD_MAX_BYTES = 16 * 1024
CONTENT_LENGTH_DIGITS_MAX = 12
REASONS = {
    200: "OK",
    201: "Created",
    204: "No Content",
    400: "Bad Request",
    401: "Unauthorized",
    404: "Not Found",
    405: "Method Not Allowed",
    408: "Request Timeout",
    411: "Length Required",
    413: "Payload Too Large",
    429: "Too Many Requests",
    500: "Internal Server Error",
}
CORS_HEADERS = (
    ("Access-Control-Allow-Origin", "*"),
    ("Access-Control-Allow-Methods", "GET, POST, OPTIONS"),
    ("Access-Control-Allow-Headers", "*"),
)


class HttpError(Exception):
    """Answered with an Ably error body, `code` 40000 unless one more exact is given."""

    def __init__(self, status: int, message: str, code: int | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code or 40000


@dataclass(slots=True)
class HttpRequest:
    method: str
    target: str
    headers: dict[str, str]
    head: bytes
    body: bytes = b""
    path: str = ""
    query: dict[str, str] = field(default_factory=dict)

    @property
    def wants_websocket(self) -> bool:
        return "websocket" in self.headers.get("upgrade", "").lower()

    @property
    def keep_alive(self) -> bool:
        return self.headers.get("connection", "").lower() != "close"


def split_head(buffer: bytearray) -> bytes | None:
    """The request head with its blank line, removed from the buffer, or None if incomplete.
    A head over `HEAD_MAX_BYTES` is refused however it arrived: in pieces or in one read."""
    end = buffer.find(b"\r\n\r\n", 0, HEAD_MAX_BYTES + 4)
    if end < 0:
        if len(buffer) >= HEAD_MAX_BYTES:
            raise HttpError(400, "Request head too large")
        return None
    head = bytes(buffer[: end + 4])
    del buffer[: end + 4]
    return head


def parse_head(head: bytes) -> HttpRequest:
    try:
        lines = head.decode("latin-1").split("\r\n")
        method, target, version = lines[0].split(" ")
        parts = urlsplit(target)
    except ValueError as error:  # also a target urlsplit refuses, such as "//[::1"
        raise HttpError(400, "Malformed request line") from error
    if not version.startswith("HTTP/1."):
        raise HttpError(400, "Only HTTP/1.x is spoken here")
    headers: dict[str, str] = {}
    for line in lines[1:]:
        if not line:
            continue
        name, separator, value = line.partition(":")
        if not separator:
            raise HttpError(400, "Malformed header line")
        key, value = name.strip().lower(), value.strip()
        if key == "content-length" and headers.get(key, value) != value:
            raise HttpError(400, "Conflicting Content-Length headers", 40008)
        headers[key] = value
    return HttpRequest(
        method=method.upper(),
        target=target,
        headers=headers,
        head=head,
        path=parts.path or "/",
        query=dict(parse_qsl(parts.query, keep_blank_values=True)),
    )


def body_length(request: HttpRequest, body_max: int) -> int:
    if "transfer-encoding" in request.headers:
        raise HttpError(411, "Chunked bodies are not accepted; send Content-Length", 40000)
    text = request.headers.get("content-length", "0")
    try:
        length = parse_int(text, "Content-Length", digits_max=CONTENT_LENGTH_DIGITS_MAX)
    except InvalidValue:
        raise HttpError(400, "Malformed Content-Length", 40008) from None
    if length > body_max:
        raise HttpError(413, "Request body too large", 40009)
    return length


def response_bytes(
    status: int, content_type: str | None, body: bytes, *, keep_alive: bool
) -> bytes:
    lines = [f"HTTP/1.1 {status} {REASONS.get(status, 'Unknown')}"]
    if content_type is not None:
        lines.append(f"Content-Type: {content_type}")
    lines.append(f"Content-Length: {len(body)}")
    lines.append("Connection: keep-alive" if keep_alive else "Connection: close")
    lines.extend(f"{name}: {value}" for name, value in CORS_HEADERS)
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body
