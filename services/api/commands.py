"""The command desk: sends a checked command to a device, records it, and follows it to its ack or expiry.

Sending, in this order: the contract's rules (:func:`smartcity.contract.commands.check_command`; a refusal is
:class:`~smartcity.contract.commands.CommandRefused`), the broker link must be up (else
:class:`~services.api.broker.BrokerUnavailable`), the command is recorded as ``sent``, then published (QoS 1, MQTT 5
Message Expiry Interval). The record comes first because the device may answer before the PUBACK has been
processed here; when the publish fails the record is removed again, so a command the broker never took is not in
the log. Acks (``{root}/v1/dev/{device}/cmd-ack``) settle the command of that device only: a device's broker
account may publish under its own topic level only, so an ack cannot settle another device's command.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
from collections.abc import Callable

import msgspec

from services.api.broker import BrokerUnavailable, CommandPublisher
from services.api.commandlog import CommandLog, CommandRecord, CommandState
from smartcity.city.model import Device
from smartcity.contract.commands import ArgValue, check_command
from smartcity.contract.messages import Command, CommandAck
from smartcity.contract.topics import TopicError, TopicKind, TopicScheme

log = logging.getLogger(__name__)

_ACK = msgspec.json.Decoder(CommandAck)
_COMMAND = msgspec.json.Encoder()
MAX_DETAIL = 500
"""Characters of a device's rejection detail that are kept."""


class CommandsDisabled(BrokerUnavailable):
    """This API runs without a broker (``SMARTCITY_API_COMMANDS`` is off)."""


def _now_ms() -> int:
    return int(time.time() * 1000)


def new_command_id() -> str:
    """16 random hex digits: unique enough for a command log, short enough for a URL."""
    return secrets.token_hex(8)


class CommandDesk:
    """Commands to devices, through ``publisher`` (None: commands are disabled), recorded in ``records``."""

    def __init__(
        self,
        records: CommandLog,
        topics: TopicScheme,
        *,
        expiry_s: int,
        publisher: CommandPublisher | None = None,
        clock: Callable[[], int] = _now_ms,
        new_id: Callable[[], str] = new_command_id,
    ) -> None:
        self.records = records
        self.topics = topics
        self.publisher = publisher
        self._expiry_s = expiry_s
        self._clock = clock
        self._new_id = new_id
        self.unmatched_acks = 0
        """Acks for commands this API did not send (or for another device's command)."""

    async def send(self, device: Device, name: str, args: dict[str, ArgValue], key_id: str) -> CommandRecord:
        """Check, record and publish one command; its record in state ``sent``."""
        checked = check_command(device.type, name, args)
        if self.publisher is None:
            raise CommandsDisabled("this API runs without a broker: commands are off (SMARTCITY_API_COMMANDS)")
        now = self._clock()
        record = CommandRecord(
            command_id=self._new_id(),
            device_id=device.id,
            name=name,
            args=checked,
            key_id=key_id,
            state=CommandState.SENT,
            detail="",
            sent_ms=now,
            expires_ms=now + self._expiry_s * 1000,
            updated_ms=now,
        )
        wire_args: dict[str, ArgValue] = dict(checked)
        payload = _COMMAND.encode(Command(id=record.command_id, name=name, args=wire_args, ts_ms=now))
        self.records.add(record)
        try:
            await self.publisher.publish(
                self.topics.device(device.id, TopicKind.COMMAND), payload, expiry_s=self._expiry_s
            )
        except BaseException:  # BrokerUnavailable, or the request was cancelled: either way it was not sent
            self.records.remove(record.command_id)
            raise
        log.info("command %s %s%s to %s by key %s", record.command_id, name, checked, device.id, key_id)
        return self.records.get(record.command_id) or record

    def on_ack(self, topic: str, payload: bytes) -> CommandRecord | None:
        """Settle the command an ack answers; None when it settles nothing (logged)."""
        try:
            where = self.topics.parse(topic)
        except TopicError as exc:
            log.warning("ignoring a message on %s: %s", topic, exc)
            return None
        if where.kind is not TopicKind.COMMAND_ACK:
            return None
        try:
            ack = _ACK.decode(payload)
        except (msgspec.DecodeError, UnicodeDecodeError) as exc:
            log.warning("ignoring a malformed command ack from %s: %s", where.device_id, exc)
            return None
        state = CommandState.ACKED if ack.status == "ok" else CommandState.REJECTED
        settled = self.records.settle(ack.id, where.device_id, state, ack.detail[:MAX_DETAIL], self._clock(), ack.ts_ms)
        if settled is not None:
            log.info("command %s on %s: %s %s", ack.id, where.device_id, state.value, ack.detail[:MAX_DETAIL])
            return settled
        known = self.records.get(ack.id)
        if known is not None and known.device_id == where.device_id:
            log.debug("command %s on %s was answered already (a redelivered ack)", ack.id, where.device_id)
        else:
            self.unmatched_acks += 1
            log.warning("ack %r from %s answers no command this API sent to it", ack.id[:40], where.device_id)
        return None

    def expire(self) -> int:
        """Mark the commands past their expiry without an ack as expired."""
        expired = self.records.expire_due(self._clock())
        if expired:
            log.info("%d command(s) expired without an answer", expired)
        return expired

    async def run_expiry(self, period_s: float = 1.0) -> None:
        """Expire due commands every ``period_s`` until cancelled (reads expire first too, so what a client
        reads is exact; this keeps the stored state current for other readers of the database)."""
        while True:
            try:
                self.expire()
            except Exception:  # the top of a long-lived loop: a locked database must not stop the sweeps
                log.exception("expiring commands failed")
            await asyncio.sleep(period_s)
