"""Channel names, checked as Ably checks them, and bounded.

Ably refuses an empty name, one starting with `[` (a qualifier, not supported here) or `:`,
and one holding a newline, with 40010. Ably sets no length limit but advises under 2,048
characters; here that advice is the limit, so that no client can make the edge keep a
channel, a subscription or a log line of unbounded size. Control characters are refused
too: nothing legitimate needs them, and they would reach logs and other clients verbatim.
"""

from __future__ import annotations

import re
from typing import Any

from betting.edge.local.protocol import EdgeError

CHANNEL_NAME_MAX_CHARS = 2048
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def invalid_channel_name(message: str) -> EdgeError:
    return EdgeError(40010, 400, message)


def channel_name(value: Any, max_chars: int = CHANNEL_NAME_MAX_CHARS) -> str:
    """`value` itself when it is a channel name a client may use; otherwise 40010."""
    if not isinstance(value, str) or not value:
        raise invalid_channel_name("A channel name must be a non-empty string")
    if len(value) > max_chars:
        raise invalid_channel_name(f"Channel name is longer than {max_chars} characters")
    if value[0] in "[:":
        raise invalid_channel_name("Channel name may not start with '[' or ':'")
    if _CONTROL.search(value) is not None:
        raise invalid_channel_name("Channel name may not hold control characters")
    return value


def shown(name: str, max_chars: int = 80) -> str:
    """A name as it may appear in an error message: bounded, whatever the client sent."""
    return name if len(name) <= max_chars else f"{name[:max_chars]}..."
