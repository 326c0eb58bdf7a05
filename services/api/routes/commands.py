"""``/v1/devices/{id}/commands`` and ``/v1/commands/{command_id}``: commands to devices (operator and above)."""

import base64
import binascii
import json
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, JsonValue, StringConstraints

from services.api.broker import BrokerUnavailable
from services.api.commandlog import CommandRecord, CommandState
from services.api.commands import CommandsDisabled
from services.api.deps import Operator, StateDep
from services.api.problems import ApiProblem, InvalidParam, invalid, not_found, problem_responses
from services.api.routes.common import Cursor
from services.api.routes.devices import visible_device
from services.api.schemas import Page, iso
from services.api.settings import ApiSettings
from smartcity.contract.commands import COMMAND_RULES, CommandRefused

_Text = Annotated[str, StringConstraints(max_length=1024)]
_ArgName = Annotated[str, StringConstraints(min_length=1, max_length=64)]
CommandId = Annotated[str, Path(pattern=r"^[0-9a-f]{16}$", description="a command id", examples=["3f2a9c0d11e45b60"])]
DeviceId = Annotated[str, Path(max_length=200, description="a device id", examples=["light-000001"])]
_NAMES: list[JsonValue] = [*sorted(COMMAND_RULES)]
_RULES = "; ".join(
    f"`{rule.name}`: {rule.takers}, " + ", ".join(f"args.{a.name} {a.kind.value} {a.low}-{a.high}" for a in rule.args)
    for rule in COMMAND_RULES.values()
)


class CommandIn(BaseModel):
    """A command to send. The device type must take it and its arguments must keep to the command's rules."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {"name": "set_dim_level", "args": {"level": 40}},
                {"name": "show_message", "args": {"text": "Road closed"}},
                {"name": "set_report_interval", "args": {"seconds": 300}},
            ]
        },
    )

    name: str = Field(max_length=64, description=_RULES, json_schema_extra={"enum": list(_NAMES)})
    args: dict[_ArgName, int | float | bool | _Text] = Field(
        default_factory=dict, max_length=8, description="the command's arguments (text at most 256 characters)"
    )


class CommandOut(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: str = Field(examples=["3f2a9c0d11e45b60"])
    device: str
    name: str
    args: dict[str, int | str]
    state: CommandState = Field(description="sent, acked (applied), rejected (by the device), expired (no answer)")
    detail: str = Field(description="why the device rejected it, or why it expired")
    sent_by: str = Field(description="the id of the API key that sent it")
    sent: datetime
    expires: datetime = Field(description="the broker drops it undelivered after this (MQTT 5 message expiry)")
    updated: datetime
    answered: datetime | None = Field(description="when the device's ack reached the API")
    device_time: datetime | None = Field(description="the device's clock in its ack")


def command_item(record: CommandRecord) -> dict[str, Any]:
    return {
        "id": record.command_id,
        "device": record.device_id,
        "name": record.name,
        "args": record.args,
        "state": record.state.value,
        "detail": record.detail,
        "sent_by": record.key_id,
        "sent": iso(record.sent_ms),
        "expires": iso(record.expires_ms),
        "updated": iso(record.updated_ms),
        "answered": iso(record.ack_ms) if record.ack_ms is not None else None,
        "device_time": iso(record.device_ms) if record.device_ms is not None else None,
    }


def _cursor(record: CommandRecord) -> str:
    raw = json.dumps({"s": record.sent_ms, "c": record.command_id, "d": record.device_id}, separators=(",", ":"))
    return base64.urlsafe_b64encode(raw.encode()).rstrip(b"=").decode()


def _after(cursor: str, device_id: str) -> tuple[int, str]:
    """The (sent_ms, command_id) a cursor of this device's list points after; 422 for anything else."""
    try:
        data = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        sent_ms, command_id, owner = data["s"], data["c"], data["d"]
    except (binascii.Error, ValueError, KeyError, TypeError, UnicodeDecodeError):
        raise invalid("query.cursor", "not a cursor this API handed out") from None
    if not isinstance(sent_ms, int) or isinstance(sent_ms, bool) or not isinstance(command_id, str):
        raise invalid("query.cursor", "not a cursor this API handed out")
    if owner != device_id:
        raise invalid("query.cursor", "the cursor belongs to another device's commands")
    return sent_ms, command_id


def router(settings: ApiSettings) -> APIRouter:
    api = APIRouter(prefix="/v1", tags=["commands"], responses=problem_responses(401, 403, 404, 422, 429))

    @api.post(
        "/devices/{device_id}/commands",
        response_model=CommandOut,
        status_code=202,
        responses=problem_responses(400, 503),
    )
    async def send_command(state: StateDep, caller: Operator, device_id: DeviceId, body: CommandIn) -> JSONResponse:
        """Send a command to a device: checked against the command rules (422 naming the broken rule), published
        on the device's command topic (QoS 1, MQTT 5 message expiry: a sleeping device gets it when it wakes)
        and recorded with the key that sent it. 202: the broker has it; follow its state at `Location`. 503
        with Retry-After while the broker is unreachable (nothing is recorded then)."""
        device = visible_device(state, caller, device_id)
        try:
            record = await state.commands.send(device, body.name, dict(body.args), caller.key_id or "")
        except CommandRefused as exc:
            reason = f"rule {exc.rule.value}: {exc.detail}"
            raise ApiProblem(
                422,
                "command-refused",
                exc.detail,
                invalid_params=[InvalidParam(name=f"body.{exc.param}", reason=reason)],
            ) from None
        except CommandsDisabled as exc:
            raise ApiProblem(503, "commands-disabled", str(exc)) from None
        except BrokerUnavailable as exc:
            headers = {"Retry-After": str(settings.retry_after_s)}
            raise ApiProblem(503, "broker-unavailable", f"the command was not sent: {exc}", headers=headers) from None
        headers = {"Location": f"/v1/commands/{record.command_id}"}
        return JSONResponse(command_item(record), status_code=202, headers=headers)

    @api.get("/devices/{device_id}/commands", response_model=Page[CommandOut])
    async def device_commands(
        state: StateDep,
        caller: Operator,
        device_id: DeviceId,
        limit: Annotated[int, Query(ge=1, le=settings.max_page_limit, examples=[20])] = settings.page_limit,
        cursor: Cursor = None,
    ) -> JSONResponse:
        """The commands sent to a device, newest first, with their state."""
        device = visible_device(state, caller, device_id)
        before = _after(cursor, device.id) if cursor is not None else None
        state.commands.expire()
        records = state.commands.records.for_device(device.id, limit=limit + 1, before=before)
        page, more = records[:limit], len(records) > limit
        body = {"items": [command_item(r) for r in page], "next_cursor": _cursor(page[-1]) if more else None}
        return JSONResponse(body)

    @api.get("/commands/{command_id}", response_model=CommandOut)
    async def command(state: StateDep, caller: Operator, command_id: CommandId) -> JSONResponse:
        """One command and its state: sent, acked, rejected (with the device's reason) or expired."""
        state.commands.expire()
        record = state.commands.records.get(command_id)
        device = state.index.devices.get(record.device_id) if record is not None else None
        if record is None or device is None or not caller.sees(device.district_id):
            raise not_found("command", command_id)
        return JSONResponse(command_item(record))

    return api
