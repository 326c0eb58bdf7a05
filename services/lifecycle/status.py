"""``smartcity data status``: per holding (open dataset or platform data), measurement and retention policy, what
the store holds (oldest and newest point, an estimate of the points), how long it is kept and when the oldest
point leaves.

Oldest and newest are one ``ORDER BY time LIMIT 1`` query each (InfluxDB reads one block per series, not the
data); the point count is estimated from the city model (each contributing device's span over its report
interval in raw, over the tier's window in a roll-up), since an exact ``count()`` over a month of a large city
reads every point.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from services.lifecycle.holdings import RAW, Holding, holdings, kinds_clause
from smartcity.city.model import City
from smartcity.influx.client import InfluxClient, quote_identifier
from smartcity.rollups import DAY_MS, TIERS

_DURATION = re.compile(r"^(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?$")
_BUCKET_S = {tier.retention_policy: tier.bucket_s for tier in TIERS}


def duration_days(text: str) -> float | None:
    """``840h0m0s`` -> 35.0; ``0s`` (INF) -> None."""
    match = _DURATION.match(text)
    if match is None:
        raise ValueError(f"not an InfluxDB duration: {text!r}")
    hours, minutes, seconds = (int(part or 0) for part in match.groups())
    total_s = hours * 3600 + minutes * 60 + seconds
    return total_s / 86_400 if total_s else None


@dataclass(frozen=True, slots=True)
class Policy:
    name: str
    days: float | None
    default: bool


@dataclass(frozen=True, slots=True)
class HeldRow:
    holding: Holding
    policy: str
    """The retention policy's name (the default one's real name for raw)."""
    oldest_ms: int | None
    newest_ms: int | None
    points_estimate: int | None
    kept_days: float | None
    """How long a point stays: the shorter of the policy's duration and the holding's own retention; None: ever."""
    kept_by: str
    """``retention policy`` or ``smartcity data expire``."""

    @property
    def expires_ms(self) -> int | None:
        """When the oldest point held leaves the store."""
        if self.oldest_ms is None or self.kept_days is None:
            return None
        return self.oldest_ms + int(self.kept_days * DAY_MS)


async def read_policies(influx: InfluxClient) -> dict[str, Policy]:
    found: dict[str, Policy] = {}
    for series in await influx.query(f"SHOW RETENTION POLICIES ON {quote_identifier(influx.settings.database)}"):
        for row in series.records():
            name, duration = str(row.get("name")), str(row.get("duration"))
            found[name] = Policy(name, duration_days(duration), row.get("default") is True)
    return found


async def _edge(influx: InfluxClient, holding: Holding, policy: str, order: str) -> int | None:
    clause, params = kinds_clause(holding)
    source = ".".join(quote_identifier(n) for n in (influx.settings.database, policy, holding.measurement))
    where = f" WHERE {clause}" if clause else ""
    found = await influx.query(f"SELECT * FROM {source}{where} ORDER BY time {order} LIMIT 1", params)
    for series in found:
        for row in series.values:
            if row and isinstance(row[0], int):
                return row[0]
    return None


def _estimate(holding: Holding, city: City, policy: str, oldest_ms: int, newest_ms: int) -> int | None:
    devices = holding.devices(city)
    if not devices:
        return None
    span_s = (newest_ms - oldest_ms) / 1000
    bucket = _BUCKET_S.get(policy)
    return sum(int(span_s / (bucket or device.report_interval_s)) + 1 for device in devices)


async def read_status(influx: InfluxClient, city: City) -> list[HeldRow]:
    """One row per holding, measurement and retention policy it lives in (missing policies are skipped)."""
    policies = await read_policies(influx)
    default = next((p for p in policies.values() if p.default), None)
    rows: list[HeldRow] = []
    for holding in holdings():
        for name in holding.policies:
            policy = default if name == RAW else policies.get(name)
            if policy is None:
                continue
            oldest = await _edge(influx, holding, policy.name, "ASC")
            newest = await _edge(influx, holding, policy.name, "DESC") if oldest is not None else None
            kept = [d for d in (policy.days, holding.retention_days) if d is not None]
            by = (
                "smartcity data expire"
                if holding.retention_days is not None and (policy.days is None or holding.retention_days < policy.days)
                else "retention policy"
            )
            estimate = _estimate(holding, city, name, oldest, newest) if oldest and newest else None
            rows.append(HeldRow(holding, policy.name, oldest, newest, estimate, min(kept, default=None), by))
    return rows
