"""Settings of the ``smartcity rollup`` process (env prefix ``SMARTCITY_ROLLUP_``, nested blocks with ``__``)."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from smartcity.latewindows import LATE_MARGIN_S
from smartcity.logs import LogFormat, LogLevel
from smartcity.rollups import RollupPolicy
from smartcity.settings import InfluxSettings


class RollupSettings(BaseSettings):
    """Everything ``smartcity rollup`` reads from the environment (or an env file)."""

    model_config = SettingsConfigDict(env_prefix="SMARTCITY_ROLLUP_", env_nested_delimiter="__", extra="forbid")

    influx: InfluxSettings = Field(default_factory=InfluxSettings)
    city_file: Path = Field(default=Path("city.json"), description="the city model: its time zone sets the days")
    state_dir: Path = Field(default=Path("var/rollup"), description="where http.port is written")
    policy: RollupPolicy = Field(default_factory=RollupPolicy)
    apply_raw_retention: bool = Field(
        default=False,
        description="also set the default retention policy's duration to POLICY__RAW_DAYS (else the operator's)",
    )
    settle_s: int = Field(
        default=120,
        ge=2 * LATE_MARGIN_S,
        le=86_400,
        description="an hour is rolled up this long after it ended (later points are recomputed from late marks)",
    )
    interval_s: float = Field(default=30.0, gt=0, le=3600, description="how often to look for closed windows")
    expire_interval_s: float = Field(
        default=3600.0,
        gt=0,
        le=7 * 86_400,
        description="how often points of datasets with a retention of their own (person-related occupancy: 366 d) "
        "older than it are deleted from every tier",
    )
    max_windows_per_cycle: int = Field(
        default=24, ge=1, le=10_000, description="hours computed per cycle at most (catch-up after downtime)"
    )
    start_lookback_h: int = Field(
        default=24,
        ge=1,
        le=36_500 * 24,
        description="with no progress recorded, start this many hours back (at most raw retention)",
    )
    register_lookback_s: int = Field(
        default=86_400,
        ge=60,
        le=31 * 86_400,
        description="how far back a meter's previous reading is looked for (the first difference of a window)",
    )
    http_host: str = Field(default="127.0.0.1", description="bind address of /metrics, /healthz, /readyz")
    http_port: int = Field(default=9110, ge=0, le=65535, description="0 picks a free port (written to state_dir)")
    log_level: LogLevel = Field(default="INFO", description="DEBUG logs every window")
    log_format: LogFormat = Field(default="text", description="text, or json: one JSON object per line")
