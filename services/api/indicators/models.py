"""Response models of ``/v1/indicators``: the OpenAPI schema and examples of its answers (the route builds the
bodies from :mod:`services.api.indicators.definitions` and :class:`~.formulas.GroupResult`)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from services.api.indicators.definitions import Indicator
from services.api.indicators.formulas import GroupResult
from services.api.indicators.period import MAX_DAYS, Period
from services.api.schemas import iso
from smartcity.city.model import FacilityKind


class _Out(BaseModel):
    model_config = ConfigDict(extra="forbid")


class IndicatorOut(_Out):
    """One indicator's definition."""

    name: str = Field(examples=["pm25_hours_above_who"])
    description: str = Field(examples=["Hours whose hourly PM2.5 mean over the group's sensors was above ..."])
    unit: str = Field(examples=["h"], description="of the value: h, d, %, kWh/m2")
    formula: str = Field(examples=["count of hours w with sum(pm25_sum) / sum(pm25_count) > 15 ..."])
    method: str = Field(examples=["hours_above"], description="how it is computed (docs/API.md, Indicators)")
    source: str = Field(examples=["rp_1h"], description="rp_1h, rp_1d (roll-up tiers) or device_health")
    metrics: list[str] = Field(examples=[["pm25"]], description="registry metrics it is computed from")
    facility_kinds: list[FacilityKind] = Field(description="the facility kinds whose devices it covers")
    threshold: float | None = Field(default=None, examples=[15.0], description="the limit it compares with")
    night_only: bool = Field(default=False, description="only night hours (23:00-07:00 in the city's time zone)")
    max_days: int = Field(examples=[93], description="the longest period one request may ask for")


class IndicatorList(_Out):
    items: list[IndicatorOut]


class PeriodOut(_Out):
    start: datetime = Field(description="start of the first whole window used (inclusive)")
    end: datetime = Field(description="end of the last whole window used (exclusive; equal to start: none)")


class GroupOut(_Out):
    """One district's or facility kind's value."""

    group: str = Field(examples=["north"], description="a district id or a facility kind")
    value: float | None = Field(examples=[12.0], description="null: no data for the group in the period")
    unit: str = Field(examples=["h"])
    windows: int = Field(
        examples=[720],
        description="source windows used: the group's hours (or days) judged for counts above a threshold, the "
        "devices' hourly roll-up points for the others, health records for reading_delivery",
    )
    devices: int = Field(examples=[4], description="devices that contributed (judged, for shares of devices)")
    facilities: int | None = Field(default=None, description="facilities that contributed (per-facility formulas)")
    at: datetime | None = Field(default=None, description="peaks: the start of the hour of the peak")
    period: PeriodOut


class ExcludedOut(_Out):
    """What the answer left out because of the quality worker's flags, and why (docs/QUALITY.md)."""

    include_flagged: bool = Field(description="true: flagged data was asked for and is included")
    devices: int = Field(examples=[1], description="devices left out for the whole period")
    of_devices: int = Field(examples=[4], description="devices the indicator covers in the selection")
    share: float = Field(examples=[0.25], description="devices / of_devices")
    flagged_devices: int = Field(examples=[2], description="devices with any quality flag in the period")
    by_kind: dict[str, int] = Field(
        examples=[{"offline": 1, "stuck": 1}], description="devices with a flag of each kind in the period"
    )
    reason: str = Field(description="what is left out")


class IndicatorValues(_Out):
    indicator: str = Field(examples=["pm25_hours_above_who"])
    unit: str = Field(examples=["h"])
    source: str = Field(examples=["rp_1h"])
    group_by: str = Field(examples=["district"], description="district or facility_kind")
    facility_kind: FacilityKind | None = Field(default=None, description="the facility kind asked for, if any")
    requested: PeriodOut = Field(description="start and end as asked")
    period: PeriodOut = Field(description="the whole, completed windows the values cover")
    rolled_up_to: datetime | None = Field(
        description="the roll-up tier was complete up to here (null: nothing rolled up yet, or device_health)"
    )
    groups: list[GroupOut]
    excluded: ExcludedOut


def definition_item(indicator: Indicator) -> dict[str, Any]:
    return {
        "name": indicator.name,
        "description": indicator.description,
        "unit": indicator.unit,
        "formula": indicator.formula,
        "method": indicator.method.value,
        "source": indicator.source.value,
        "metrics": list(indicator.metrics),
        "facility_kinds": [kind.value for kind in indicator.facility_kinds],
        "threshold": indicator.threshold,
        "night_only": indicator.night_only,
        "max_days": MAX_DAYS[indicator.source],
    }


def _span(start_ms: int, end_ms: int) -> dict[str, str]:
    return {"start": iso(start_ms), "end": iso(end_ms)}


def values_body(
    indicator: Indicator,
    group_by: str,
    kind: FacilityKind | None,
    period: Period,
    groups: list[GroupResult],
    excluded: dict[str, Any],
) -> dict[str, Any]:
    span = _span(period.start_ms, period.end_ms)
    return {
        "indicator": indicator.name,
        "unit": indicator.unit,
        "source": indicator.source.value,
        "group_by": group_by,
        "facility_kind": kind.value if kind is not None else None,
        "requested": _span(*period.requested),
        "period": span,
        "rolled_up_to": iso(period.rolled_up_to) if period.rolled_up_to is not None else None,
        "groups": [
            {
                "group": g.group,
                "value": g.value,
                "unit": indicator.unit,
                "windows": g.windows,
                "devices": g.devices,
                "facilities": g.facilities,
                "at": iso(g.at_ms) if g.at_ms is not None else None,
                "period": span,
            }
            for g in groups
        ],
        "excluded": excluded,
    }


VALUES_EXAMPLE = {
    "indicator": "pm25_hours_above_who",
    "unit": "h",
    "source": "rp_1h",
    "group_by": "district",
    "facility_kind": "school",
    "requested": {"start": "2025-04-01T00:00:00.000Z", "end": "2025-05-01T00:00:00.000Z"},
    "period": {"start": "2025-04-01T00:00:00.000Z", "end": "2025-05-01T00:00:00.000Z"},
    "rolled_up_to": "2025-05-02T09:00:00.000Z",
    "groups": [
        {
            "group": "altstadt",
            "value": 37.0,
            "unit": "h",
            "windows": 720,
            "devices": 3,
            "facilities": None,
            "at": None,
            "period": {"start": "2025-04-01T00:00:00.000Z", "end": "2025-05-01T00:00:00.000Z"},
        }
    ],
    "excluded": {
        "include_flagged": False,
        "devices": 1,
        "of_devices": 4,
        "share": 0.25,
        "flagged_devices": 2,
        "by_kind": {"offline": 1, "stuck": 1},
        "reason": "devices with a stuck, spike or drift flag in the period are left out",
    },
}
