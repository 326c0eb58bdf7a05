"""MQTT topic scheme: fixed depth, versioned, the device id as one whole level.

``{root}/v1/dev/{device_id}/{kind}``   device traffic (a broker ACL binds the device level to the device's account)
``{root}/v1/sys/dead-letter/{reason}`` rejected input, published by the gateway

Every topic has exactly five levels, so one subscription filter per kind is enough and an ACL pattern
(``{root}/v1/dev/%u/reading``) can pin a device to its own level.
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass

from smartcity.contract import CONTRACT_VERSION

_LEVEL = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")


class TopicKind(enum.StrEnum):
    READING = "reading"
    """One JSON reading (device -> platform), QoS 1."""
    SENML = "senml"
    """A SenML pack as JSON (application/senml+json), QoS 1."""
    SENML_CBOR = "senml-cbor"
    """A SenML pack as CBOR (application/senml+cbor), QoS 1."""
    STATUS = "status"
    """Retained "online"/"offline" document; the device's last will is the offline one. QoS 1."""
    BIRTH = "birth"
    """Retained metadata: firmware, IPv6 address, network class, type. QoS 1."""
    COMMAND = "cmd"
    """Platform -> device command, QoS 1."""
    COMMAND_ACK = "cmd-ack"
    """Device -> platform answer to a command, QoS 1."""

    @property
    def is_telemetry(self) -> bool:
        return self in _TELEMETRY


_TELEMETRY = frozenset({TopicKind.READING, TopicKind.SENML, TopicKind.SENML_CBOR})

UPLINK_KINDS = (
    TopicKind.READING,
    TopicKind.SENML,
    TopicKind.SENML_CBOR,
    TopicKind.STATUS,
    TopicKind.BIRTH,
    TopicKind.COMMAND_ACK,
)
"""What a device publishes (and its ACL allows), which is what the gateway subscribes to."""


class TopicError(ValueError):
    """A topic that is not part of the contract."""


@dataclass(frozen=True, slots=True)
class DeviceTopic:
    device_id: str
    kind: TopicKind


@dataclass(frozen=True, slots=True)
class TopicScheme:
    """Builds and parses the contract's topics under one root level (``city`` in production, unique per test)."""

    root: str = "city"

    def __post_init__(self) -> None:
        if not _LEVEL.match(self.root):
            raise TopicError(f"topic root {self.root!r} must be one lower-case level (a-z, 0-9, '-')")

    @property
    def _prefix(self) -> str:
        return f"{self.root}/v{CONTRACT_VERSION}"

    def device(self, device_id: str, kind: TopicKind) -> str:
        if not _LEVEL.match(device_id):
            raise TopicError(f"device id {device_id!r} is not a valid topic level")
        return f"{self._prefix}/dev/{device_id}/{kind.value}"

    def device_filter(self, kind: TopicKind, device_id: str = "+") -> str:
        """Subscription filter for one kind, all devices by default."""
        return f"{self._prefix}/dev/{device_id}/{kind.value}"

    def dead_letter(self, reason: str) -> str:
        return f"{self._prefix}/sys/dead-letter/{reason}"

    def dead_letter_filter(self) -> str:
        return f"{self._prefix}/sys/dead-letter/+"

    def parse(self, topic: str) -> DeviceTopic:
        """Parse a device topic; raise :class:`TopicError` naming what is wrong."""
        parts = topic.split("/")
        if len(parts) != 5:
            raise TopicError(f"topic {topic!r} has {len(parts)} levels, the contract has 5")
        root, version, scope, device_id, kind = parts
        if root != self.root or version != f"v{CONTRACT_VERSION}" or scope != "dev":
            raise TopicError(f"topic {topic!r} is not under {self._prefix}/dev/")
        if not _LEVEL.match(device_id):
            raise TopicError(f"device level {device_id!r} in {topic!r} is not a valid device id")
        try:
            return DeviceTopic(device_id, TopicKind(kind))
        except ValueError:
            raise TopicError(f"unknown topic kind {kind!r} in {topic!r}") from None
