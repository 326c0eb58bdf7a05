"""The dead-letter path: every rejected input is published (QoS 1) to ``{root}/v1/sys/dead-letter/{reason}`` as a
:class:`~smartcity.contract.messages.DeadLetter`, counted by reason and logged at WARNING; the source message is
acknowledged only after the broker acknowledged the dead letter."""

from __future__ import annotations

import asyncio
import base64
import logging
from typing import Protocol

import msgspec

from gateway.metrics import GatewayMetrics
from smartcity.contract.messages import DeadLetter
from smartcity.contract.reading import Rejection
from smartcity.contract.topics import TopicScheme

log = logging.getLogger(__name__)

MAX_KEPT_PAYLOAD = 65_536
"""Longest payload copied into a dead letter; an oversized payload is cut here (the detail says so)."""

_ENCODER = msgspec.json.Encoder()


class Publisher(Protocol):
    """The broker side the dead-letter path needs (the MQTT session in production, a twin in unit tests)."""

    def publish(self, topic: str, payload: bytes, qos: int = 1) -> asyncio.Future[None]: ...


def dead_letter(
    *, reason: str, detail: str, topic: str, payload: bytes, received_ms: int, device_id: str | None
) -> DeadLetter:
    """Build the dead letter; the payload is kept as UTF-8 text when it decodes, otherwise base64."""
    if len(payload) > MAX_KEPT_PAYLOAD:
        detail = f"{detail} (payload cut to its first {MAX_KEPT_PAYLOAD} of {len(payload)} bytes)"
        payload = payload[:MAX_KEPT_PAYLOAD]
    try:
        return DeadLetter(reason, detail, topic, received_ms, payload.decode(), "utf-8", device_id)
    except UnicodeDecodeError:
        text = base64.b64encode(payload).decode()
        return DeadLetter(reason, detail, topic, received_ms, text, "base64", device_id)


class DeadLetters:
    """Publishes dead letters and counts them."""

    def __init__(self, scheme: TopicScheme, publisher: Publisher, metrics: GatewayMetrics) -> None:
        self._scheme = scheme
        self._publisher = publisher
        self._metrics = metrics

    def send(
        self, *, reason: str, detail: str, topic: str, payload: bytes, received_ms: int, device_id: str | None
    ) -> asyncio.Future[None]:
        """Publish one dead letter; the future completes when the broker acknowledged it."""
        letter = dead_letter(
            reason=reason, detail=detail, topic=topic, payload=payload, received_ms=received_ms, device_id=device_id
        )
        self._metrics.rejected.labels(reason).inc()
        log.warning("rejected %s: %s: %s", topic, reason, detail)
        return self._publisher.publish(self._scheme.dead_letter(reason), _ENCODER.encode(letter), 1)

    def reject(self, rejection: Rejection, *, topic: str, payload: bytes, received_ms: int) -> asyncio.Future[None]:
        """Publish the dead letter for ``rejection`` of the message ``payload`` received on ``topic``."""
        return self.send(
            reason=rejection.reason.value,
            detail=rejection.detail,
            topic=topic,
            payload=payload,
            received_ms=received_ms,
            device_id=rejection.device_id,
        )
