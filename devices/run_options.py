"""What one run of the simulator does: the command-line flags of ``smartcity simulate``, as one value.

Built by :mod:`devices.cli` (or :func:`devices.loadgen.run_load`), read by :mod:`devices.fleet` to build each
worker's devices and by :class:`devices.runner.Simulation` for the run's duration.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from devices.episodes import EpisodePlan
from devices.faults import NO_FAULTS, FaultPlan


@dataclass(frozen=True, slots=True)
class RunOptions:
    """What one run does (the command-line flags)."""

    seed: int = 0
    speed: float = 1.0
    duration_s: float | None = None
    backfill_s: float = 0.0
    backfill_rate: float = 5000.0
    """Readings per second (all devices) while backfilling; sets the backfill's simulated speed."""
    start_ms: int | None = None
    faults: FaultPlan = field(default_factory=lambda: NO_FAULTS)
    rate: float | None = None
    """Load mode: total readings per second over the selected broadband devices (narrowband ones are left out)."""
    coverage_loss: float = 0.0
    """Share of hours a narrowband device spends out of coverage."""
    burst: int = 1
    """Readings per wake of a broadband device (sent in one write); the reading rate does not change."""
    episodes: EpisodePlan = field(default_factory=EpisodePlan)
    """Fault episodes in simulated time (``--faults``, ``--fault-rate``)."""
    truth_path: Path | None = None
    """Ground-truth log of the episodes (``--truth``), appended to by every worker."""
