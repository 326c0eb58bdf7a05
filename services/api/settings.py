"""Settings of the ``smartcity api`` process (env prefix ``SMARTCITY_API_``, nested blocks with ``__``)."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, FilePath, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from smartcity.logs import LogFormat, LogLevel
from smartcity.settings import InfluxSettings, MqttSettings


class ApiSettings(BaseSettings):
    """Everything ``smartcity api`` reads from the environment (or an env file)."""

    model_config = SettingsConfigDict(env_prefix="SMARTCITY_API_", env_nested_delimiter="__", extra="forbid")

    influx: InfluxSettings = Field(default_factory=InfluxSettings)
    mqtt: MqttSettings = Field(default_factory=MqttSettings)
    city_file: Path = Field(default=Path("city.json"), description="the city model: districts, facilities, devices")
    state_file: Path = Field(
        default=Path("var/api/state.sqlite"),
        description="embedded SQLite database (WAL) holding the API keys, command log, grants and audit trail "
        "(one node; unused when STATE_URL is set)",
    )
    state_url: SecretStr | None = Field(
        default=None,
        description="PostgreSQL holding that state instead, shared by several API replicas "
        "(postgresql://user:password@host:5432/db)",
    )
    host: str = Field(default="127.0.0.1", description="bind address (an IPv6 literal such as ::1 works too)")
    port: int = Field(default=8000, ge=1, le=65535, description="TCP port")
    tls_cert_file: FilePath | None = Field(
        default=None, description="PEM server certificate (chain): serve HTTPS instead of HTTP (with TLS_KEY_FILE)"
    )
    tls_key_file: FilePath | None = Field(default=None, description="PEM private key of TLS_CERT_FILE")
    tls_client_ca_file: FilePath | None = Field(
        default=None, description="require a client certificate from this PEM CA on every connection (mutual TLS)"
    )
    max_points: int = Field(
        default=50_000, ge=100, le=10_000_000, description="most points one history request may return (else 422)"
    )
    page_limit: int = Field(default=100, ge=1, le=10_000, description="catalogue page size when no limit is given")
    max_page_limit: int = Field(default=1_000, ge=1, le=10_000, description="largest limit a catalogue page takes")
    latest_refresh_s: float = Field(default=5.0, gt=0, le=3600, description="how often the last-value cache refreshes")
    answer_cache_mb: int = Field(
        default=64,
        ge=0,
        le=65_536,
        description="memory for indicator and history answers from closed roll-up windows, kept until the roll-up "
        "worker redoes a window (0: off)",
    )
    rollup_watch_s: float = Field(
        default=1.0, gt=0, le=60, description="how often the roll-up worker's progress is read (at most)"
    )
    history_fresh_s: float = Field(
        default=1.0,
        ge=0,
        le=60,
        description="how long a history answer that reads raw points is answered again as computed (0: never)",
    )
    flags_watch_s: float = Field(
        default=5.0,
        gt=0,
        le=3600,
        description="how long indicators use the quality flags they read before reading them again",
    )
    latest_window_s: int = Field(
        default=86_400,
        ge=60,
        le=31 * 86_400,
        description="values older than this are not 'latest' (the first fill reads this window once)",
    )
    latest_lookback_s: int = Field(
        default=900,
        ge=10,
        le=86_400,
        description="each refresh reads this far back: covers readings that reach the store late (narrowband)",
    )
    health_refresh_s: float = Field(default=30.0, gt=0, le=3600, description="how often device health is re-read")
    public_rate_per_s: float = Field(
        default=10.0, gt=0, description="requests per second a client without a key may make (token bucket)"
    )
    public_burst: int = Field(default=20, ge=1, description="requests a client without a key may make at once")
    retry_after_s: int = Field(default=5, ge=1, le=3600, description="Retry-After sent while InfluxDB is unreachable")
    commands: bool = Field(
        default=False,
        description="send device commands: connect to the broker (the MQTT__ block, the broker's `api` account) "
        "and follow the command acks; off: POST .../commands answers 503",
    )
    command_expiry_s: int = Field(
        default=3_600,
        ge=1,
        le=7 * 86_400,
        description="MQTT 5 message expiry of a command (a sleeping device gets it when it wakes within this "
        "time); a command without an ack by then is expired. Also the broker session's expiry",
    )
    command_publish_timeout_s: float = Field(
        default=5.0, gt=0, le=60, description="how long sending a command waits for the broker's PUBACK (else 503)"
    )
    stream_keepalive_s: float = Field(
        default=15.0, gt=0, le=300, description="a keep-alive comment on every event stream this often"
    )
    stream_queue: int = Field(
        default=5_000,
        ge=1,
        le=100_000,
        description="device-metric pairs waiting per event stream (a newer value replaces a waiting one); when "
        "full the longest-waiting pair is dropped and the client gets a `lagged` event. Keep it above what one "
        "refresh changes for a stream's selection",
    )
    stream_send_timeout_s: float = Field(
        default=60.0, gt=0, le=3600, description="an event stream whose client takes nothing for this long is closed"
    )
    stream_max_clients: int = Field(
        default=100, ge=1, le=100_000, description="open event streams at most (more: 503 with Retry-After)"
    )
    city_reload_s: float = Field(
        default=5.0,
        gt=0,
        le=3600,
        description="how often the city file is checked for a change; a changed file is served without a restart",
    )
    decommission_keeps_environmental: bool = Field(
        default=True,
        description="DELETE /v1/devices/{id} keeps a device's environmental measurements (published per sensor: "
        "air quality, noise, weather, flood levels) as the city's history; off: removes every series of the device",
    )
    decommission_edits_city: bool = Field(
        default=False,
        description="DELETE /v1/devices/{id} also removes the device from CITY_FILE (written next to it and renamed "
        "over it): the gateway and the API stop accepting it, regenerated broker credentials leave it out",
    )
    broker_password_file: Path | None = Field(
        default=None,
        description="the broker's password file: DELETE /v1/devices/{id} removes the device's account from it "
        "(unset: credentials are the city file's, see docs/PRIVACY.md)",
    )
    broker_pid_file: Path | None = Field(
        default=None,
        description="a file holding the broker's PID: sent SIGHUP after BROKER_PASSWORD_FILE changed, so Mosquitto "
        "re-reads it and closes the removed device's session",
    )
    log_level: LogLevel = Field(default="INFO", description="DEBUG logs every request")
    log_format: LogFormat = Field(default="text", description="text, or json: one JSON object per line")

    @field_validator("state_url")
    @classmethod
    def _postgres_only(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and not value.get_secret_value().startswith(("postgresql://", "postgres://")):
            raise ValueError("must be a postgresql:// URL (unset: the SQLite STATE_FILE)")
        return value

    @model_validator(mode="after")
    def _tls_files_fit(self) -> ApiSettings:
        if (self.tls_cert_file is None) != (self.tls_key_file is None):
            raise ValueError("tls_cert_file and tls_key_file go together: set both or neither")
        if self.tls_client_ca_file is not None and self.tls_cert_file is None:
            raise ValueError("tls_client_ca_file needs HTTPS: set tls_cert_file and tls_key_file too")
        return self

    def state_location(self) -> Path | str:
        """Where the state lives: the PostgreSQL URL when set, else the SQLite file."""
        return self.state_file if self.state_url is None else self.state_url.get_secret_value()
