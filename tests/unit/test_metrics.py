"""The metric registry: consistent, storable, stable field types, and documented."""

from __future__ import annotations

from itertools import pairwise
from pathlib import Path

from devices.signals import DeviceControls, SignalModel
from smartcity.city.generate import generate_city
from smartcity.city.model import DeviceType
from smartcity.contract.metrics import DEVICE_METRICS, MEASUREMENTS, METRICS, MetricKind, Temporality, metrics_for
from smartcity.contract.reading import RejectReason
from smartcity.contract.registry_doc import BEGIN, END, render, updated
from smartcity.contract.topics import TopicKind
from smartcity.influx.lineprotocol import escape_key, escape_measurement

CONTRACT_DOC = Path(__file__).resolve().parents[2] / "docs" / "CONTRACT.md"

_UNIT_SYMBOLS = (
    # RFC 8428 section 12.1 and RFC 8798 (secondary units) - the symbols this registry may use
    "m kg g s A K cd mol Hz rad sr N Pa J W C V F Ohm S Wb T H Cel lm lx Bq Gy Sv kat m2 m3 l m/s m/s2 m3/s l/s "
    "W/m2 cd/m2 bit bit/s lat lon pH dB dBW Bspl count / % %RH %EL EL 1/s 1/min beat/min beats S/m B VA VAs var "
    "vars J/m kg/m3 deg ms min h MHz kW kVA kvar Ah Wh kWh varh kvarh kVAh Wh/km KiB GB Mbit/s B/s MB/s mV mA dBm "
    "ug/m3 mm/h m/h ppm /100 /1000 hPa mm cm km km/h"
)
SENML_UNITS = frozenset(_UNIT_SYMBOLS.split())

FIELD_TYPES = {
    "no2": "float", "pm25": "float", "pm10": "float", "o3": "float", "co2": "float", "indoor_temperature": "float",
    "indoor_humidity": "float", "laeq": "float", "lamax": "float", "power": "float", "energy": "float",
    "water_flow": "float", "water_volume": "float", "occupancy": "int", "occupied": "bool", "vehicle_count": "int",
    "vehicle_speed": "float", "lamp_on": "bool", "dim_level": "int", "lamp_power": "float", "temperature": "float",
    "humidity": "float", "wind_speed": "float", "rain_rate": "float", "pressure": "float", "water_level": "float",
    "fill_level": "float", "message": "string", "brightness": "int", "battery": "float", "rssi": "float",
    "report_interval": "int",
}  # fmt: skip
"""A field's type is fixed in InfluxDB for ever: this snapshot fails when one changes. Add a new metric instead."""

NOT_GAUGES = {"energy": "register", "water_volume": "register", "vehicle_count": "amount"}
"""Roll-ups depend on these (sums of amounts, differences of registers); every other metric is a gauge."""


def test_temporalities() -> None:
    assert {n: s.temporality for n, s in METRICS.items() if s.temporality is not Temporality.GAUGE} == NOT_GAUGES
    assert all(METRICS[name].kind in (MetricKind.FLOAT, MetricKind.INT) for name in NOT_GAUGES)


def test_temporalities_match_what_the_simulator_emits() -> None:
    """Registers rise and never fall, nothing else does; amounts grow with the report interval."""
    city = generate_city(devices=5_000, seed=11)
    model = SignalModel(city, seed=11)
    one_of_each = {device.type: device for device in city.devices}
    assert set(one_of_each) == set(DeviceType)
    start_ms = 1_767_225_600_000  # 2026-01-01
    for device in one_of_each.values():
        ctx = model.context(device)
        series: dict[str, list[float]] = {}
        scaled: dict[int, dict[str, float]] = {60: {}, 600: {}}
        for step in range(0, 2 * 96):  # two days at 15 minutes
            t_ms = start_ms + step * 900_000
            for name, value in model.sample(ctx, t_ms, DeviceControls(report_interval_s=300)).items():
                if isinstance(value, int | float) and not isinstance(value, bool):
                    series.setdefault(name, []).append(float(value))
            for interval, sums in scaled.items():
                for name, value in model.sample(ctx, t_ms, DeviceControls(report_interval_s=interval)).items():
                    if isinstance(value, int | float) and name != "report_interval":  # that one *is* the interval
                        sums[name] = sums.get(name, 0.0) + float(value)
        for name, values in series.items():
            counts_up = values[-1] > values[0] and all(b >= a for a, b in pairwise(values))
            assert counts_up == (METRICS[name].temporality is Temporality.REGISTER), (device.type, name)
        for name, total in scaled[600].items():
            grows = total > 5 * scaled[60][name] > 0  # ten times the interval, about ten times the amount
            assert grows == (METRICS[name].temporality is Temporality.AMOUNT), (device.type, name)


def test_field_types_never_change() -> None:
    for name, kind in FIELD_TYPES.items():
        assert METRICS[name].kind == kind, f"{name} changed type: add a new metric instead"
    assert set(METRICS) >= set(FIELD_TYPES)


def test_every_metric_is_consistent() -> None:
    for name, spec in METRICS.items():
        assert spec.name == name == spec.field
        assert spec.unit == "" or spec.unit in SENML_UNITS, spec
        assert spec.description
        assert escape_measurement(spec.measurement) == spec.measurement
        assert escape_key(spec.field) == spec.field
        assert spec.field != "seq"  # every point carries seq as its own field
        if spec.kind in (MetricKind.FLOAT, MetricKind.INT):
            assert spec.minimum is not None
            assert spec.maximum is not None
            assert spec.minimum < spec.maximum
        else:
            assert (spec.minimum, spec.maximum) == (None, None)
        assert (spec.max_length > 0) == (spec.kind is MetricKind.STRING)
        if spec.kind is MetricKind.INT:
            assert -(2**63) <= spec.minimum <= spec.maximum < 2**63  # type: ignore[operator]


def test_device_types_report_known_metrics_and_every_metric_is_reported() -> None:
    assert set(DEVICE_METRICS) == set(DeviceType)
    reported = {name for names in DEVICE_METRICS.values() for name in names}
    assert reported == set(METRICS)
    for device_type, names in DEVICE_METRICS.items():
        assert len(names) == len(set(names)), device_type
        assert list(metrics_for(device_type)) == list(names)
    assert {spec.measurement for spec in METRICS.values()} == MEASUREMENTS


def test_contract_doc_tables_are_generated_from_the_registry() -> None:
    document = CONTRACT_DOC.read_text(encoding="utf-8")
    assert updated(document) == document, "run: .venv/bin/python -m smartcity.contract.registry_doc"
    for name in METRICS:
        assert f"| `{name}` |" in render()


def test_contract_doc_names_every_reason_and_topic_kind() -> None:
    document = CONTRACT_DOC.read_text(encoding="utf-8")
    outside_tables = document.split(BEGIN)[0] + document.split(END)[1]
    for reason in RejectReason:
        assert f"| `{reason}` |" in outside_tables, reason
    for kind in TopicKind:
        assert f"/{kind}`" in outside_tables, kind
