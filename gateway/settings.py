"""Settings of the ``smartcity gateway`` process (env prefix ``SMARTCITY_GATEWAY_``, nested blocks with ``__``)."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from smartcity.contract.limits import MAX_PAYLOAD_UNDER_BROKER_LIMIT
from smartcity.logs import LogFormat, LogLevel
from smartcity.settings import InfluxSettings, MqttSettings


class LimitSettings(BaseModel):
    """What the gateway accepts from devices (mapped onto the contract's parse limits)."""

    max_payload_bytes: int = Field(
        default=65_536,
        ge=64,
        le=MAX_PAYLOAD_UNDER_BROKER_LIMIT,
        description="larger payloads are dead-lettered (oversized); below the broker's packet limit",
    )
    max_records: int = Field(default=1_024, ge=1, description="most records in one SenML pack")
    max_future_s: int = Field(default=300, ge=0, description="device clock may run this far ahead of ours")
    max_past_s: int = Field(default=31 * 86_400, ge=0, description="oldest accepted device timestamp (backfill)")
    dead_letter_excerpt_bytes: int = Field(
        default=4_096, ge=64, le=65_536, description="payload bytes kept in a dead letter (stored and published)"
    )


class GatewaySettings(BaseSettings):
    """Everything ``smartcity gateway`` reads from the environment (or an env file)."""

    model_config = SettingsConfigDict(env_prefix="SMARTCITY_GATEWAY_", env_nested_delimiter="__", extra="forbid")

    mqtt: MqttSettings = Field(
        default_factory=MqttSettings,
        description="broker connection; client_id (default smartcity-gateway) must be stable and unique per replica",
    )
    influx: InfluxSettings = Field(default_factory=InfluxSettings)
    city_file: Path = Field(default=Path("city.json"), description="the city model: the device registry")
    spool_dir: Path = Field(default=Path("var/gateway"), description="local spool (SQLite WAL) and http.port")
    http_host: str = Field(default="127.0.0.1", description="bind address of /metrics, /healthz, /readyz")
    http_port: int = Field(default=9108, ge=0, le=65535, description="0 picks a free port (written to spool_dir)")
    shared_group: str | None = Field(
        default=None, pattern=r"^[A-Za-z0-9_\-]+$", description="subscribe as a member of $share/<group>/..."
    )
    batch_size: int = Field(default=5_000, ge=1, le=100_000, description="points per InfluxDB write")
    batch_ms: int = Field(default=50, ge=1, le=60_000, description="longest a point waits for its batch to fill")
    max_inflight_batches: int = Field(default=4, ge=1, le=64, description="concurrent writes to InfluxDB")
    receive_maximum: int = Field(
        default=65_535, ge=20, le=65_535, description="MQTT 5 Receive Maximum: un-acked QoS 1 messages in flight"
    )
    session_expiry_s: int = Field(default=86_400, ge=0, description="broker keeps the session this long offline")
    qos: int = Field(default=1, ge=0, le=1, description="subscription QoS (1 = at-least-once)")
    write_retry_s: float = Field(
        default=5.0, ge=0, description="retry a failing write this long before spooling it (then ack)"
    )
    watchdog_s: float = Field(
        default=0.0, ge=0, description="reconnect when no packet arrived for this long (0 = 3 x keepalive)"
    )
    health_interval_s: float = Field(default=10.0, gt=0, description="device_health written this often")
    city_reload_s: float = Field(
        default=5.0,
        gt=0,
        le=3600,
        description="how often the city file is checked for a change; a changed file's devices are accepted (and "
        "removed ones refused) without a restart",
    )
    clock_max_offset_s: int = Field(
        default=60,
        ge=0,
        description="stop taking messages while our clock differs from InfluxDB's by more (0 = never check)",
    )
    log_level: LogLevel = Field(default="INFO", description="DEBUG logs one line per batch")
    log_format: LogFormat = Field(default="text", description="text, or json: one JSON object per line")
    limits: LimitSettings = Field(default_factory=LimitSettings)
