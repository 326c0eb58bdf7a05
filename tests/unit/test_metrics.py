"""The metric registry: consistent, storable, stable field types, and documented."""

from __future__ import annotations

from pathlib import Path

from smartcity.city.model import DeviceType
from smartcity.contract.metrics import DEVICE_METRICS, MEASUREMENTS, METRICS, MetricKind, metrics_for
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
