"""Ably push on the local edge, through the official Python SDK's push admin API: device
registrations, channel subscriptions and push publish, refusals by name, and the capability
that guards them."""

from __future__ import annotations

from collections.abc import AsyncIterator
from types import SimpleNamespace
from typing import Any

import httpx
import pytest
from ably import AblyException, AblyRest

from betting.edge.ably_adapter import AblyEdge, AblySettings
from betting.edge.local import LocalEdge
from betting.edge.local.push import DELIVERIES_MAX
from betting.edge.local.testing import BETTOR_KEY, ROOT_KEY, running_edge, sdk_clients
from betting.edge.port import PushNotice
from betting.tasks.notices import StartingSoon


def phone(device_id: str, client_id: str | None = "ann") -> dict[str, Any]:
    device: dict[str, Any] = {
        "id": device_id,
        "platform": "android",
        "form_factor": "phone",
        "push": {"recipient": {"transportType": "fcm", "registrationToken": f"tok-{device_id}"}},
    }
    if client_id is not None:
        device["client_id"] = client_id
    return device


@pytest.fixture
async def edge_and_rest() -> AsyncIterator[tuple[LocalEdge, AblyRest]]:
    async with running_edge() as edge, sdk_clients(edge) as (rest, _):
        yield edge, rest


async def test_a_device_registered_by_the_sdk_is_listed_found_and_removed(
    edge_and_rest: tuple[LocalEdge, AblyRest],
) -> None:
    edge, rest = edge_and_rest
    registrations = rest.push.admin.device_registrations
    saved = await registrations.save(phone("dev-1"))
    assert (saved.id, saved.client_id, saved.platform) == ("dev-1", "ann", "android")
    await registrations.save(phone("dev-2", client_id="bob"))
    assert (await registrations.get("dev-1")).form_factor == "phone"
    listed = await registrations.list(clientId="ann")
    assert [device.id for device in listed.items] == ["dev-1"]
    await registrations.remove("dev-1")
    with pytest.raises(AblyException) as missing:
        await registrations.get("dev-1")
    assert missing.value.code == 40400
    await registrations.remove_where(clientId="bob")
    assert edge.hub.push.devices == {}


async def test_a_push_to_a_client_reaches_each_of_its_devices_and_no_other(
    edge_and_rest: tuple[LocalEdge, AblyRest],
) -> None:
    edge, rest = edge_and_rest
    for device in (phone("ann-phone"), phone("ann-tablet"), phone("bob-phone", "bob")):
        await rest.push.admin.device_registrations.save(device)
    notice = {"notification": {"title": "Acceptance Cup", "body": "Starts in 5 minutes"}}
    await rest.push.admin.publish({"clientId": "ann"}, {**notice, "data": {"race": "r-1"}})
    deliveries = list(edge.hub.push.deliveries)
    assert sorted(d.device_id for d in deliveries) == ["ann-phone", "ann-tablet"]
    assert {d.notification["title"] for d in deliveries} == {"Acceptance Cup"}
    assert {d.transport for d in deliveries} == {"fcm"}
    await rest.push.admin.publish({"deviceId": "bob-phone"}, {"data": {"race": "r-1"}})
    assert edge.hub.push.delivered == 3


async def test_channel_subscriptions_are_saved_listed_and_removed(
    edge_and_rest: tuple[LocalEdge, AblyRest],
) -> None:
    _, rest = edge_and_rest
    await rest.push.admin.device_registrations.save(phone("dev-1"))
    subscriptions = rest.push.admin.channel_subscriptions
    await subscriptions.save({"channel": "outbound:user:ann", "device_id": "dev-1"})
    await subscriptions.save({"channel": "outbound:odds:r-1", "client_id": "ann"})
    listed = await subscriptions.list(channel="outbound:user:ann")
    assert [(s.channel, s.device_id) for s in listed.items] == [("outbound:user:ann", "dev-1")]
    channels = await subscriptions.list_channels()
    assert sorted(channels.items) == ["outbound:odds:r-1", "outbound:user:ann"]
    await rest.push.admin.device_registrations.remove("dev-1")  # takes its subscriptions
    assert [s.channel for s in (await subscriptions.list()).items] == ["outbound:odds:r-1"]
    with pytest.raises(AblyException) as unknown:
        await subscriptions.save({"channel": "c", "device_id": "no-such-device"})
    assert unknown.value.code == 40400


async def test_push_admin_needs_its_capability(edge_and_rest: tuple[LocalEdge, AblyRest]) -> None:
    edge, _ = edge_and_rest
    async with sdk_clients(edge, key=BETTOR_KEY) as (bettor, _):
        with pytest.raises(AblyException) as refused:
            await bettor.push.admin.device_registrations.save(phone("dev-1"))
        assert refused.value.code == 40160
        with pytest.raises(AblyException) as refused:
            await bettor.push.admin.publish({"clientId": "ann"}, {"data": {"a": "b"}})
        assert refused.value.code == 40160
    assert edge.hub.push.devices == {} and edge.hub.push.delivered == 0


HOSTILE_BODIES = [
    ("PUT", "/push/deviceRegistrations/dev-1", []),
    ("PUT", "/push/deviceRegistrations/dev-1", {**phone("dev-1"), "platform": "amiga"}),
    ("PUT", "/push/deviceRegistrations/dev-1", {**phone("dev-2")}),
    ("PUT", "/push/deviceRegistrations/dev-1", {**phone("dev-1"), "push": {"recipient": 5}}),
    ("PUT", "/push/deviceRegistrations/dev-1", {**phone("dev-1"), "metadata": {"x": "y" * 5000}}),
    ("POST", "/push/publish", {"recipient": {}, "data": {"a": "b"}}),
    ("POST", "/push/publish", {"recipient": {"clientId": "ann", "deviceId": "d"}, "data": {}}),
    ("POST", "/push/publish", {"recipient": {"clientId": "ann"}, "data": {"a": 1}}),
    ("POST", "/push/publish", {"recipient": {"clientId": "ann"}}),
    ("POST", "/push/publish", {"recipient": {"clientId": "ann"}, "notification": {"x": "1"}}),
    ("POST", "/push/channelSubscriptions", {"channel": "c"}),
    ("POST", "/push/channelSubscriptions", {"channel": "c", "clientId": "a", "deviceId": "d"}),
    ("DELETE", "/push/channelSubscriptions", None),
    ("DELETE", "/push/deviceRegistrations", None),
    ("GET", "/push/deviceRegistrations?colour=red", None),
]


@pytest.mark.parametrize(("method", "path", "body"), HOSTILE_BODIES)
async def test_a_malformed_push_request_is_refused_by_name(
    edge_and_rest: tuple[LocalEdge, AblyRest], method: str, path: str, body: Any
) -> None:
    edge, _ = edge_and_rest
    url = f"http://127.0.0.1:{edge.port}{path}"
    async with httpx.AsyncClient(auth=("test.root", "root-secret")) as http:
        kwargs = {} if body is None else {"json": body}
        response = await http.request(method, url, **kwargs)
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert error["code"] == 40000 and error["message"]
    assert edge.hub.push.delivered == 0


async def test_deliveries_kept_are_bounded(edge_and_rest: tuple[LocalEdge, AblyRest]) -> None:
    edge, rest = edge_and_rest
    await rest.push.admin.device_registrations.save(phone("dev-1"))
    registry = edge.hub.push
    for _ in range(DELIVERIES_MAX + 5):
        registry.publish({"recipient": {"deviceId": "dev-1"}, "data": {"n": "1"}})
    assert len(registry.deliveries) == DELIVERIES_MAX and registry.delivered == DELIVERIES_MAX + 5


async def test_the_ably_adapter_pushes_to_a_users_devices_through_the_sdk(
    edge_and_rest: tuple[LocalEdge, AblyRest],
) -> None:
    """The production path: `AblyEdge.push_to_user` is the SDK's push admin publish."""
    edge, rest = edge_and_rest
    await rest.push.admin.device_registrations.save(phone("ann-phone"))
    settings = AblySettings(key=ROOT_KEY, endpoint="127.0.0.1", port=edge.port, tls=False)
    async with AblyEdge(settings) as port:
        await port.push_to_user("ann", PushNotice("Acceptance Cup", "Starts soon", {"r": "1"}))
        await port.push_to_user("nobody", PushNotice("t", "b", {}))  # no devices: no error
    (delivery,) = edge.hub.push.deliveries
    assert delivery.device_id == "ann-phone" and delivery.data == {"r": "1"}


async def test_starting_soon_goes_to_the_devices_only_when_configured() -> None:
    now_ms = 1_000_000
    race = SimpleNamespace(name="Acceptance Cup", scheduled_start_ms=now_ms + 30_000)
    view = SimpleNamespace(state="open", header=SimpleNamespace(race=race))
    views: Any = SimpleNamespace(races={"race-1": view}, notifications={"ann": True})
    for push in (False, True):
        async with running_edge() as edge:
            wire = {"platform": "ios", "formFactor": "phone", "clientId": "ann"}
            recipient = {"transportType": "apns", "deviceToken": "t"}
            edge.hub.push.save_device("ann-phone", {**wire, "push": {"recipient": recipient}})
            await StartingSoon(views, edge, lead_ms=60_000, push=push).send_due(now_ms)
            pushed = [d.notification.get("title") for d in edge.hub.push.deliveries]
            assert pushed == (["Acceptance Cup"] if push else [])
