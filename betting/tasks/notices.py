""" "Race starting soon": a notice, a set lead time before a race's scheduled start, to every
user who turned notifications on (the reference app's activate/deactivate device).

Each notice's message id names the race and the user, so a second instance, or this one after a
restart, sending the same notice is de-duplicated by the edge. With `admin.push_notices`, it
also goes out as an Ably push to the user's registered devices (push has no idempotency key:
two instances, or one after a restart, may push it twice).
"""

from __future__ import annotations

import asyncio
import time

from betting.channels import user_channel
from betting.edge.port import EdgePort, OutboundMessage, PushNotice
from betting.tasks.views import Views

CHECK_INTERVAL_S = 1.0
NOTICE_STATES = ("scheduled", "open")


class StartingSoon:
    def __init__(self, views: Views, edge: EdgePort, lead_ms: int, push: bool = False) -> None:
        self._views = views
        self._edge = edge
        self._lead_ms = lead_ms
        self._push = push
        self._sent: set[tuple[str, str]] = set()
        self.sent = 0

    async def run(self) -> None:
        while True:
            await self.send_due(time.time_ns() // 1_000_000)
            await asyncio.sleep(CHECK_INTERVAL_S)

    async def send_due(self, now_ms: int) -> None:
        for race_id, view in list(self._views.races.items()):
            start_ms = view.header.race.scheduled_start_ms
            if view.state not in NOTICE_STATES or not 0 < start_ms - now_ms <= self._lead_ms:
                continue
            name = view.header.race.name
            for user_id, enabled in list(self._views.notifications.items()):
                if enabled and (race_id, user_id) not in self._sent:
                    await self._notify(user_id, race_id, name, (start_ms - now_ms) // 1000)

    async def _notify(self, user_id: str, race_id: str, name: str, seconds: int) -> None:
        notice = {
            "kind": "starting_soon",
            "race_id": race_id,
            "text": f"{name} starts in {seconds} s",
        }
        message = OutboundMessage("notice", notice, id=f"starting-soon:{race_id}:{user_id}")
        await self._edge.publish(user_channel(user_id), [message])
        self._sent.add((race_id, user_id))
        if self._push:
            data = {"kind": "starting_soon", "race_id": race_id}
            await self._edge.push_to_user(user_id, PushNotice(name, notice["text"], data))
        self.sent += 1
