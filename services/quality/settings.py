"""Settings of the ``smartcity quality`` process (env prefix ``SMARTCITY_QUALITY_``, nested blocks with ``__``)."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from services.quality.device_checks import BatteryRules, CadenceRules, DeliveryRules, SilenceRules, SkewRules
from services.quality.fill_checks import FillRules
from services.quality.peer_checks import DriftRules
from services.quality.rules import Rules, WorkerConfig
from services.quality.value_checks import CommonModeRules, SpikeRules, StuckRules
from smartcity.logs import LogFormat, LogLevel
from smartcity.settings import InfluxSettings


class QualitySettings(BaseSettings):
    """Everything ``smartcity quality`` reads from the environment (or an env file)."""

    model_config = SettingsConfigDict(env_prefix="SMARTCITY_QUALITY_", env_nested_delimiter="__", extra="forbid")

    influx: InfluxSettings = Field(default_factory=InfluxSettings)
    city_file: Path = Field(default=Path("city.json"), description="the city model: devices, intervals, networks")
    state_dir: Path = Field(default=Path("var/quality"), description="where http.port is written")
    interval_s: float = Field(default=30.0, gt=0, le=3600, description="how often a cycle runs")
    lookback_h: int = Field(
        default=48, ge=6, le=31 * 24, description="hourly roll-ups each hour pass reads (stuck, drift, battery)"
    )
    warmup_h: int = Field(
        default=6, ge=1, le=7 * 24, description="1-minute roll-ups read before the first hour after a start"
    )
    start_lookback_h: int = Field(
        default=24, ge=1, le=36_500 * 24, description="with no progress recorded, judge from this many hours back"
    )
    max_hours_per_cycle: int = Field(default=24, ge=1, le=10_000, description="hour passes per cycle at most")
    flag_memory_days: int = Field(
        default=35, ge=1, le=3650, description="flags read back at start (open ones older than this are forgotten)"
    )
    offline: SilenceRules = Field(default_factory=SilenceRules)
    delivery: DeliveryRules = Field(default_factory=DeliveryRules)
    skew: SkewRules = Field(default_factory=SkewRules)
    battery: BatteryRules = Field(default_factory=BatteryRules)
    stuck: StuckRules = Field(default_factory=StuckRules)
    spike: SpikeRules = Field(default_factory=SpikeRules)
    common_mode: CommonModeRules = Field(default_factory=CommonModeRules)
    drift: DriftRules = Field(default_factory=DriftRules)
    fill: FillRules = Field(default_factory=FillRules)
    cadence: CadenceRules = Field(default_factory=CadenceRules)
    http_host: str = Field(default="127.0.0.1", description="bind address of /metrics, /healthz, /readyz")
    http_port: int = Field(default=9120, ge=0, le=65535, description="0 picks a free port (written to state_dir)")
    log_level: LogLevel = Field(default="INFO", description="DEBUG logs every pass")
    log_format: LogFormat = Field(default="text", description="text, or json: one JSON object per line")

    def worker_config(self) -> WorkerConfig:
        """What the worker judges with: the rules and its windows."""
        return WorkerConfig(
            rules=self.rules(),
            lookback_h=self.lookback_h,
            start_lookback_h=self.start_lookback_h,
            max_hours_per_cycle=self.max_hours_per_cycle,
            warmup_h=self.warmup_h,
            flag_memory_days=self.flag_memory_days,
        )

    def rules(self) -> Rules:
        return Rules(
            silence=self.offline,
            delivery=self.delivery,
            skew=self.skew,
            battery=self.battery,
            stuck=self.stuck,
            spike=self.spike,
            common=self.common_mode,
            drift=self.drift,
            cadence=self.cadence,
            fill=self.fill,
        )
