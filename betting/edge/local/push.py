"""Ably push on the local edge: device registrations, channel subscriptions and push publish,
as the official SDKs' push admin API calls them (`/push/deviceRegistrations`,
`/push/channelSubscriptions`, `/push/channels`, `/push/publish`).

The local edge cannot reach APNs, FCM or a browser's push service, so a push that would go
out is kept as a `Delivery` (the newest `DELIVERIES_MAX`) and counted: tests and the operator
see what real Ably would have sent, to which device. Every body is read strictly, as Ably
reads it (400 with code 40000 naming the field), and every store is bounded.
"""

from __future__ import annotations

from collections import OrderedDict, deque
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import orjson

from betting.edge.local.protocol import EdgeError, bad_request

PLATFORMS = frozenset({"android", "ios", "browser"})
FORM_FACTORS = frozenset({"phone", "tablet", "desktop", "tv", "watch", "car", "embedded", "other"})
TRANSPORTS = frozenset({"apns", "fcm", "gcm", "web"})
DEVICES_MAX = 100_000
SUBSCRIPTIONS_MAX = 200_000
DELIVERIES_MAX = 10_000
ID_CHARS_MAX = 256
PART_BYTES_MAX = 4_096  # metadata, a recipient, a notification or its data, each
NOTIFICATION_FIELDS = frozenset({"title", "body", "icon", "sound", "collapseKey", "ttl"})


def not_found(what: str) -> EdgeError:
    return EdgeError(40400, 404, f"{what} not found")


@dataclass(frozen=True, slots=True)
class Device:
    device_id: str
    platform: str
    form_factor: str
    recipient: Mapping[str, Any]  # transportType and the transport's own fields
    client_id: str | None = None
    metadata: Mapping[str, Any] | None = None

    def as_wire(self) -> dict[str, Any]:
        wire: dict[str, Any] = {
            "id": self.device_id,
            "platform": self.platform,
            "formFactor": self.form_factor,
            "push": {"recipient": dict(self.recipient), "state": "ACTIVE"},
        }
        if self.client_id is not None:
            wire["clientId"] = self.client_id
        if self.metadata is not None:
            wire["metadata"] = dict(self.metadata)
        return wire


@dataclass(frozen=True, slots=True)
class Subscription:
    channel: str
    device_id: str | None = None
    client_id: str | None = None

    def as_wire(self) -> dict[str, Any]:
        wire = {"channel": self.channel}
        if self.device_id is not None:
            wire["deviceId"] = self.device_id
        if self.client_id is not None:
            wire["clientId"] = self.client_id
        return wire


@dataclass(frozen=True, slots=True)
class Delivery:
    device_id: str
    client_id: str | None
    transport: str
    notification: Mapping[str, Any]
    data: Mapping[str, str]


class PushRegistry:
    def __init__(self) -> None:
        self.devices: OrderedDict[str, Device] = OrderedDict()
        self.subscriptions: OrderedDict[Subscription, None] = OrderedDict()
        self.deliveries: deque[Delivery] = deque(maxlen=DELIVERIES_MAX)
        self.delivered = 0  # every delivery, including those no longer kept

    # -- devices --------------------------------------------------------------------------

    def save_device(self, device_id: str, body: object) -> Device:
        fields = _object(body, "device")
        if fields.get("id", device_id) != device_id:
            raise bad_request("device: the body's id is not the path's")
        push = _object(fields.get("push"), "device.push")
        recipient = _object(push.get("recipient"), "device.push.recipient")
        if recipient.get("transportType") not in TRANSPORTS:
            raise bad_request(f"device.push.recipient.transportType: one of {sorted(TRANSPORTS)}")
        device = Device(
            device_id=_id(device_id, "device id"),
            platform=_choice(fields.get("platform"), PLATFORMS, "device.platform"),
            form_factor=_choice(fields.get("formFactor"), FORM_FACTORS, "device.formFactor"),
            recipient=_bounded(recipient, "device.push.recipient"),
            client_id=_optional_id(fields.get("clientId"), "device.clientId"),
            metadata=_optional_object(fields.get("metadata"), "device.metadata"),
        )
        if device_id not in self.devices and len(self.devices) >= DEVICES_MAX:
            raise EdgeError(42910, 429, f"At most {DEVICES_MAX} push devices")
        self.devices[device_id] = device
        return device

    def device(self, device_id: str) -> Device:
        found = self.devices.get(device_id)
        if found is None:
            raise not_found(f"device {device_id[:ID_CHARS_MAX]!r}")
        return found

    def find_devices(self, query: Mapping[str, str]) -> list[Device]:
        _only(query, {"deviceId", "clientId", "limit"}, "deviceRegistrations")
        return [d for d in self.devices.values() if _device_matches(d, query)]

    def remove_device(self, device_id: str) -> None:
        """Removing a device removes its subscriptions, as Ably does; unknown is no error."""
        if self.devices.pop(device_id, None) is not None:
            self._drop_subscriptions(lambda s: s.device_id == device_id)

    def remove_devices(self, query: Mapping[str, str]) -> None:
        _only(query, {"deviceId", "clientId"}, "deviceRegistrations")
        if not query:
            raise bad_request("deviceRegistrations: removing needs deviceId or clientId")
        for device in self.find_devices(query):
            self.remove_device(device.device_id)

    # -- channel subscriptions ------------------------------------------------------------

    def subscribe(self, body: object) -> Subscription:
        fields = _object(body, "subscription")
        device_id = _optional_id(fields.get("deviceId"), "subscription.deviceId")
        client_id = _optional_id(fields.get("clientId"), "subscription.clientId")
        if (device_id is None) == (client_id is None):
            raise bad_request("subscription: exactly one of deviceId and clientId")
        if device_id is not None and device_id not in self.devices:
            raise not_found(f"device {device_id!r}")
        channel = _id(fields.get("channel"), "subscription.channel")
        subscription = Subscription(channel, device_id, client_id)
        if subscription not in self.subscriptions:
            if len(self.subscriptions) >= SUBSCRIPTIONS_MAX:
                raise EdgeError(42910, 429, f"At most {SUBSCRIPTIONS_MAX} push subscriptions")
            self.subscriptions[subscription] = None
        return subscription

    def find_subscriptions(self, query: Mapping[str, str]) -> list[Subscription]:
        _only(query, {"channel", "deviceId", "clientId", "limit"}, "channelSubscriptions")
        return [s for s in self.subscriptions if _subscription_matches(s, query)]

    def channels(self) -> list[str]:
        return sorted({subscription.channel for subscription in self.subscriptions})

    def unsubscribe(self, query: Mapping[str, str]) -> None:
        _only(query, {"channel", "deviceId", "clientId"}, "channelSubscriptions")
        if not ("deviceId" in query or "clientId" in query):
            raise bad_request("channelSubscriptions: removing needs deviceId or clientId")
        self._drop_subscriptions(lambda s: _subscription_matches(s, query))

    def _drop_subscriptions(self, chosen: Any) -> None:
        for subscription in [s for s in self.subscriptions if chosen(s)]:
            del self.subscriptions[subscription]

    # -- publish --------------------------------------------------------------------------

    def publish(self, body: object) -> int:
        """Deliver to the recipient (a clientId's devices, or one deviceId); the count sent."""
        fields = _object(body, "push")
        recipient = _object(fields.get("recipient"), "push.recipient")
        _only(recipient, {"clientId", "deviceId"}, "push.recipient")
        if len(recipient) != 1:
            raise bad_request("push.recipient: exactly one of clientId and deviceId")
        notification = _optional_object(fields.get("notification"), "push.notification") or {}
        _only(notification, NOTIFICATION_FIELDS, "push.notification")
        data = _optional_object(fields.get("data"), "push.data") or {}
        if not all(isinstance(value, str) for value in data.values()):
            raise bad_request("push.data: every value must be a string")
        if not notification and not data:
            raise bad_request("push: a notification or data is required")
        if "deviceId" in recipient:
            targets = [self.device(_id(recipient["deviceId"], "push.recipient.deviceId"))]
        else:
            client_id = _id(recipient["clientId"], "push.recipient.clientId")
            targets = [d for d in self.devices.values() if d.client_id == client_id]
        for device in targets:
            transport = str(device.recipient["transportType"])
            delivery = Delivery(device.device_id, device.client_id, transport, notification, data)
            self.deliveries.append(delivery)
        self.delivered += len(targets)
        return len(targets)


def _object(value: object, what: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise bad_request(f"{what}: expected an object")
    return value


def _optional_object(value: object, what: str) -> dict[str, Any] | None:
    return None if value is None else _bounded(_object(value, what), what)


def _bounded(value: dict[str, Any], what: str) -> dict[str, Any]:
    try:
        size = len(orjson.dumps(value))
    except (TypeError, orjson.JSONEncodeError):
        raise bad_request(f"{what}: not JSON") from None
    if size > PART_BYTES_MAX:
        raise bad_request(f"{what}: {size} bytes, at most {PART_BYTES_MAX}")
    return value


def _id(value: object, what: str) -> str:
    if not isinstance(value, str) or not 0 < len(value) <= ID_CHARS_MAX:
        raise bad_request(f"{what}: a string of 1 to {ID_CHARS_MAX} characters")
    if not value.isprintable():
        raise bad_request(f"{what}: printable characters only")
    return value


def _optional_id(value: object, what: str) -> str | None:
    return None if value is None else _id(value, what)


def _choice(value: object, allowed: frozenset[str], what: str) -> str:
    if value not in allowed:
        raise bad_request(f"{what}: one of {sorted(allowed)}")
    return str(value)


def _only(fields: Mapping[str, Any], allowed: frozenset[str] | set[str], what: str) -> None:
    unknown = sorted(set(fields) - set(allowed))
    if unknown:
        raise bad_request(f"{what}: unknown field {str(unknown[0])[:40]!r}")


def _device_matches(device: Device, query: Mapping[str, str]) -> bool:
    return (
        query.get("deviceId", device.device_id) == device.device_id
        and query.get("clientId", device.client_id) == device.client_id
    )


def _subscription_matches(subscription: Subscription, query: Mapping[str, str]) -> bool:
    return (
        query.get("channel", subscription.channel) == subscription.channel
        and query.get("deviceId", subscription.device_id) == subscription.device_id
        and query.get("clientId", subscription.client_id) == subscription.client_id
    )
