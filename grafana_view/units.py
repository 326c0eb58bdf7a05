"""Grafana unit ids for the metric registry's SenML units, so every panel shows a registry metric in its unit."""

from __future__ import annotations

from collections.abc import Mapping

from grafana_foundation_sdk.models import units

from smartcity.contract.metrics import METRICS

GRAFANA_UNITS: Mapping[str, str] = {
    "ug/m3": units.MicrogramPerCubicMeter,
    "ppm": units.PartsPerMillion,
    "Cel": units.Celsius,
    "%RH": units.Humidity,
    "dB": units.Decibel,
    "kW": units.KiloWatt,
    "kWh": units.KiloWattHour,
    "W": units.Watt,
    "l/s": "suffix: l/s",
    "m3": "m3",
    "count": units.Short,
    "km/h": "velocitykmh",
    "m/s": "velocityms",
    "mm/h": "suffix: mm/h",
    "hPa": units.Hectopascals,
    "cm": "suffix: cm",
    "%": units.Percent,
    "%EL": units.Percent,
    "dBm": units.DecibelMilliWatt,
    "s": "s",
    "": units.NoUnit,
}
"""SenML symbol -> Grafana unit id; a symbol Grafana has no unit for is shown as a suffix."""


def unit_of(metric: str) -> str:
    """The Grafana unit of a registry metric (``pm25`` -> ``conμgm3``)."""
    return GRAFANA_UNITS[METRICS[metric].unit]
