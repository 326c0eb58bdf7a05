"""The quality worker's thresholds (one block per detector, each a settings block) and run parameters."""

from __future__ import annotations

from dataclasses import dataclass

from services.quality.device_checks import BatteryRules, CadenceRules, DeliveryRules, SilenceRules, SkewRules
from services.quality.fill_checks import FillRules
from services.quality.peer_checks import DriftRules
from services.quality.value_checks import CommonModeRules, SpikeRules, StuckRules


@dataclass(frozen=True, slots=True)
class Rules:
    silence: SilenceRules
    delivery: DeliveryRules
    skew: SkewRules
    battery: BatteryRules
    stuck: StuckRules
    spike: SpikeRules
    common: CommonModeRules
    drift: DriftRules
    cadence: CadenceRules
    fill: FillRules


@dataclass(frozen=True, slots=True)
class WorkerConfig:
    rules: Rules
    lookback_h: int
    start_lookback_h: int
    max_hours_per_cycle: int
    warmup_h: int
    flag_memory_days: int
