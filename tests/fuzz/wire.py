"""Raw clients for the campaigns: one realtime websocket speaking Ably's protocol by hand,
and one HTTP/1.1 request per TCP connection, written byte for byte."""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import socket
import time
import urllib.request
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

import msgpack
import orjson
from websockets.exceptions import ConnectionClosed, InvalidHandshake
from websockets.sync.client import ClientConnection, connect

from tests.fuzz.hostile import JSON, encode
from tests.fuzz.serve_under_test import EDGE_KEY

HEARTBEAT, ACK, NACK, CONNECTED, DISCONNECTED, ERROR = 0, 1, 2, 4, 6, 9
ATTACHED, DETACHED, MESSAGE = 11, 13, 15
ANSWER_TIMEOUT_S = 3.0


@dataclass
class Answer:
    """What the edge said to one input, up to the probe that follows it."""

    frames: list[dict[str, Any]] = field(default_factory=list)
    closed: bool = False
    close_frame: bool = False
    timed_out: bool = False

    def of(self, action: int) -> list[dict[str, Any]]:
        return [frame for frame in self.frames if frame.get("action") == action]

    @property
    def refused(self) -> bool:
        return bool(self.of(ERROR) or self.of(NACK) or self.of(DISCONNECTED)) or self.closed

    def problem(self) -> tuple[str, str] | None:
        """A crash class and its symptom, or None when the edge answered as Ably would."""
        if self.timed_out:
            return "websocket: no answer", "neither the probe nor a close came back in time"
        for frame in self.of(ERROR) + self.of(NACK) + self.of(DISCONNECTED):
            error = frame.get("error") or {}
            code, status = error.get("code"), error.get("statusCode")
            if not isinstance(code, int) or code >= 50000 or not isinstance(status, int):
                name = {ERROR: "ERROR", NACK: "NACK", DISCONNECTED: "DISCONNECTED"}
                kind = f"websocket: {name[frame['action']]} {code}"
                return kind, str(error.get("message"))[:200]
        if self.closed and not (self.close_frame or self.of(ERROR)):
            return "websocket: dropped without ERROR or close frame", "socket closed silently"
        return None


class Realtime:
    """A websocket to the edge; `exchange` sends one payload then a heartbeat probe."""

    def __init__(self, edge_port: int, wire: str, *, key: str = "", token: str = "",
                 client_id: str = "") -> None:  # fmt: skip
        credential = f"accessToken={quote(token)}" if token else f"key={quote(key)}"
        client = f"&clientId={quote(client_id)}" if client_id and not token else ""
        self.url = f"ws://127.0.0.1:{edge_port}/?{credential}{client}&format={wire}&v=5"
        self.wire = wire
        self._probes = 0
        self.socket: ClientConnection | None = None
        self.connected: dict[str, Any] = {}

    def open(self) -> dict[str, Any]:
        self.socket = connect(self.url, max_size=None, compression=None, open_timeout=5)
        while True:
            frame = self._read()
            if frame.get("action") in (CONNECTED, ERROR):
                self.connected = frame
                return frame

    @property
    def is_open(self) -> bool:
        return self.socket is not None

    def close(self) -> None:
        if self.socket is not None:
            self.socket.close()
            self.socket = None

    def send(self, message: Any) -> None:
        assert self.socket is not None
        payload = encode(message, self.wire)
        self.socket.send(payload.decode() if self.wire == JSON else payload)

    def _read(self, timeout_s: float = ANSWER_TIMEOUT_S) -> dict[str, Any]:
        assert self.socket is not None
        raw = self.socket.recv(timeout=timeout_s)
        data = raw.encode() if isinstance(raw, str) else raw
        if self.wire == JSON:
            decoded = orjson.loads(data)
        else:
            decoded = msgpack.unpackb(data, raw=False, strict_map_key=False)
        return decoded if isinstance(decoded, dict) else {"action": -1, "raw": decoded}

    def listen(self, duration_s: float, stop: Any) -> Answer:
        """Read what the edge sends unasked for up to `duration_s`, or until `stop(answer)`."""
        answer = Answer()
        deadline = time.monotonic() + duration_s
        try:
            while not stop(answer):
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                answer.frames.append(self._read(remaining))
        except ConnectionClosed as closed:
            answer.closed, answer.close_frame = True, closed.rcvd is not None
            self.socket = None
        except TimeoutError:
            pass
        return answer

    def exchange(
        self, payload: bytes | str, until: Any = None, timeout_s: float = ANSWER_TIMEOUT_S
    ) -> Answer:
        """Send `payload` as is, then a heartbeat with an id; read until the probe is answered
        and `until(answer)` holds, or the socket closes. The socket is closed afterwards if
        the edge closed it."""
        answer = Answer()
        assert self.socket is not None
        self._probes += 1
        probe_id = f"probe-{self._probes}"
        probe_answered = False
        deadline = time.monotonic() + timeout_s
        try:
            self.socket.send(payload)
            self.send({"action": HEARTBEAT, "id": probe_id})
            while not (probe_answered and (until is None or until(answer))):
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TimeoutError
                frame = self._read(remaining)
                if frame.get("action") == HEARTBEAT and frame.get("id") == probe_id:
                    probe_answered = True
                else:
                    answer.frames.append(frame)
        except ConnectionClosed as closed:
            answer.closed = True
            answer.close_frame = closed.rcvd is not None
            self.socket = None
        except TimeoutError:
            answer.timed_out = True
            self.close()
        except OSError:
            answer.closed = True
            self.socket = None
        return answer


def acked(serial: int) -> Any:
    """An `until` for `exchange`: the publish with this msgSerial has been ACKed or NACKed."""

    def done(answer: Answer) -> bool:
        for frame in answer.of(ACK) + answer.of(NACK):
            first, count = frame.get("msgSerial"), frame.get("count", 1)
            if (
                isinstance(first, int)
                and isinstance(count, int)
                and first <= serial < first + count
            ):
                return True
        return False

    return done


def try_open(realtime: Realtime) -> dict[str, Any] | None:
    try:
        return realtime.open()
    except (OSError, InvalidHandshake, ConnectionClosed, TimeoutError):
        realtime.socket = None
        return None


@dataclass
class HttpAnswer:
    status: int  # 0: no answer at all
    head: bytes
    body: bytes
    timed_out: bool = False


def http_exchange(port: int, request: bytes, timeout_s: float = 5.0) -> HttpAnswer:
    """Send the request bytes and read the answer until the server closes (every request
    says `Connection: close`; a half-close would end an edge request before its answer)."""
    chunks: list[bytes] = []
    timed_out = False
    with socket.create_connection(("127.0.0.1", port), timeout=timeout_s) as sock:
        try:
            sock.sendall(request)
            while chunk := sock.recv(65_536):
                chunks.append(chunk)
        except TimeoutError:
            timed_out = True
        except OSError:
            pass
    raw = b"".join(chunks)
    head, _, body = raw.partition(b"\r\n\r\n")
    status = 0
    parts = head.split(b" ", 2)
    if len(parts) >= 2 and parts[0].startswith(b"HTTP/1.") and parts[1].isdigit():
        status = int(parts[1])
    return HttpAnswer(status, head, body, timed_out)


def http_request(method: str, target: str, headers: list[tuple[str, str]], body: bytes,
                 *, content_length: str | None = None) -> bytes:  # fmt: skip
    """A request head written by hand (UTF-8, lone surrogates passed through), so that
    any header value, Content-Length included, can be sent as it is."""
    lines = [f"{method} {target} HTTP/1.1", "Host: 127.0.0.1", "Connection: close"]
    lines += [f"{name}: {value}" for name, value in headers]
    length = str(len(body)) if content_length is None else content_length
    lines.append(f"Content-Length: {length}")
    head = "\r\n".join(lines) + "\r\n\r\n"
    return head.encode("utf-8", "surrogatepass") + body


def message_data(message: dict[str, Any]) -> Any:
    """A delivered message's data, decoded as an SDK would (json, base64)."""
    data, encoding = message.get("data"), message.get("encoding") or ""
    for step in reversed([part for part in str(encoding).split("/") if part]):
        if step == "base64" and isinstance(data, str):
            data = base64.b64decode(data)
        elif step == "json" and isinstance(data, str | bytes):
            data = orjson.loads(data)
        elif step == "utf-8" and isinstance(data, bytes):
            data = data.decode()
    return data


def bettor_token(api: str, edge_port: int, user_id: str) -> str:
    """A bettor's token, the way the official client gets one: a TokenRequest signed by the
    server at /auth/token, exchanged with the edge."""
    token_request = _post_json(f"{api}/auth/token", {"user_id": user_id})["token_request"]
    key_name = token_request["keyName"]
    url = f"http://127.0.0.1:{edge_port}/keys/{quote(key_name)}/requestToken"
    token: str = _post_json(url, token_request)["token"]
    return token


def _post_json(url: str, body: Any) -> Any:
    request = urllib.request.Request(
        url, orjson.dumps(body), {"Content-Type": "application/json"}, method="POST"
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return orjson.loads(response.read())


def signed_token_request(
    capability: dict[str, list[str]],
    client_id: str,
    timestamp_ms: int | None = None,
    ttl_ms: int = 600_000,
) -> dict[str, Any]:
    """An Ably TokenRequest signed with the edge's development key, with a fresh nonce."""
    key_name, _, secret = EDGE_KEY.partition(":")
    fields: dict[str, Any] = {
        "keyName": key_name,
        "ttl": ttl_ms,
        "capability": orjson.dumps(capability).decode(),
        "clientId": client_id,
        "timestamp": int(time.time() * 1000) if timestamp_ms is None else timestamp_ms,
        "nonce": secrets.token_hex(16),
    }
    order = ("keyName", "ttl", "capability", "clientId", "timestamp", "nonce")
    text = "".join(f"{fields[name]}\n" for name in order)
    digest = hmac.new(secret.encode(), text.encode(), hashlib.sha256).digest()
    return {**fields, "mac": base64.b64encode(digest).decode()}


def exchange_token_request(edge_port: int, token_request: dict[str, Any]) -> HttpAnswer:
    path = f"/keys/{quote(str(token_request.get('keyName')), safe='')}/requestToken"
    headers = [("Content-Type", "application/json")]
    return http_exchange(
        edge_port, http_request("POST", path, headers, orjson.dumps(token_request))
    )
