"""Settings of the ``smartcity simulate`` process (env prefix ``SMARTCITY_SIM_``, nested with ``__``).

Example: ``SMARTCITY_SIM_MQTT__HOST=2001:db8::10 SMARTCITY_SIM_DEVICE_SECRET=... smartcity simulate --city c.json``.
Run options that change from one run to the next (speed, duration, faults...) are command-line flags instead.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from smartcity.logs import LogLevel
from smartcity.settings import MqttSettings


class SimulatorSettings(BaseSettings):
    """Where the simulated city connects and how its sessions behave."""

    model_config = SettingsConfigDict(env_prefix="SMARTCITY_SIM_", env_nested_delimiter="__", extra="forbid")

    mqtt: MqttSettings = Field(default_factory=MqttSettings)
    """Broker (default ``[::1]:1883``) and topic root. ``username``/``password`` here are the network server's
    account (``netserver``) when no ``device_secret`` is set; devices never use them."""
    device_secret: SecretStr | None = Field(
        default=None,
        description="secret from which each device's MQTT password is derived (HMAC, as in `smartcity city "
        "credentials`); unset = connect without credentials (a broker with allow_anonymous)",
    )
    device_secret_file: Path | None = Field(
        default=None, description="file holding the deployment secret (used when device_secret is unset)"
    )
    netserver_username: str = Field(default="netserver", description="account of the narrowband network server")
    workers: int = Field(default=1, ge=1, le=64, description="worker processes sharing the broadband sessions")
    connect_rate: float = Field(default=2000.0, gt=0, description="new broadband sessions per second per worker")
    session_expiry_s: int = Field(
        default=300,
        ge=0,
        description="MQTT 5 session expiry: commands sent while a "
        "device is briefly offline wait at the broker this long",
    )
    reconnect_min_s: float = Field(default=0.5, gt=0, description="first reconnect delay (then doubled, jittered)")
    reconnect_max_s: float = Field(default=30.0, gt=0, description="longest reconnect delay")
    max_inflight: int = Field(default=32, ge=1, le=65535, description="unacknowledged QoS 1 publishes per device")
    event_loop: Literal["uvloop", "asyncio"] = Field(default="uvloop", description="uvloop halves CPU per message")
    log_level: LogLevel = Field(
        default="WARNING", description="log level (the live view shows progress; logs go to stderr)"
    )
