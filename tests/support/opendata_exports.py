"""Reading open-data exports back in the tests: each format parsed as a consumer would (the csv module; GeoJSON's
structure; SenML with the contract's own decoder and record resolution), and the provenance headers."""

from __future__ import annotations

import csv
import io
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from services.api.settings import ApiSettings
from smartcity.city.model import City
from smartcity.contract.records import resolve
from smartcity.contract.senml import decode_senml_json
from smartcity.settings import InfluxSettings
from tests.support.api_support import api_settings

_SF_ITEM = re.compile(r'([a-z][a-z0-9_.*-]*)="((?:[^"\\]|\\.)*)"')


def export_settings(tmp_path: Path, influx: InfluxSettings, city: City, **overrides: object) -> ApiSettings:
    """An app over ``city`` and ``influx``; public requests unthrottled unless overridden."""
    values: dict[str, object] = {"public_rate_per_s": 10_000.0, "public_burst": 10_000} | overrides
    settings = api_settings(tmp_path, influx, city_file=tmp_path / "export-city.json", **values)
    settings.city_file.write_text(city.model_dump_json(), encoding="utf-8")
    return settings


def provenance(header: str) -> dict[str, str]:
    """An RFC 8941 dictionary of strings (``X-Provenance``)."""
    items = dict(_SF_ITEM.findall(header))
    assert ", ".join(f'{k}="{v}"' for k, v in items.items()) == header, header
    return {key: value.replace('\\"', '"').replace("\\\\", "\\") for key, value in items.items()}


def csv_rows(body: bytes) -> tuple[list[str], list[dict[str, str]]]:
    reader = csv.DictReader(io.StringIO(body.decode("utf-8"), newline=""))
    rows = list(reader)
    return list(reader.fieldnames or []), rows


def geojson(body: bytes, properties: set[str]) -> dict[str, Any]:
    """The FeatureCollection, its structure checked (RFC 7946): every feature a Feature with a Point or Polygon of
    finite longitude, latitude pairs and exactly ``properties``."""
    document: dict[str, Any] = json.loads(body)
    assert document["type"] == "FeatureCollection"
    assert isinstance(document["features"], list)
    assert isinstance(document["metadata"], dict)
    for feature in document["features"]:
        assert feature["type"] == "Feature"
        geometry = feature["geometry"]
        if geometry["type"] == "Point":
            positions = [geometry["coordinates"]]
        else:
            assert geometry["type"] == "Polygon"
            ring = geometry["coordinates"][0]
            assert len(ring) >= 4
            assert ring[0] == ring[-1], "a closed ring"
            positions = ring
        for lon, lat in positions:
            assert -180 <= lon <= 180
            assert -90 <= lat <= 90
        assert set(feature["properties"]) == properties
    return document


@dataclass(frozen=True, slots=True)
class SenmlValue:
    base: str
    """The base name without its trailing colon: the place (and a release cell's kind and window)."""
    name: str
    time_ms: int
    unit: str | None
    value: object


def senml_values(body: bytes) -> list[SenmlValue]:
    """Every value of the pack, decoded by the contract's SenML decoder and resolved record by record (base name,
    base time, units) by its resolver, one run of records per base name."""
    records = decode_senml_json(body)
    runs: list[tuple[str, list[Any]]] = []
    for record in records:
        if isinstance(record.bn, str):
            runs.append((record.bn.removesuffix(":"), []))
        assert runs, "the first record carries the base name"
        runs[-1][1].append(record)
    out: list[SenmlValue] = []
    for base, run in runs:
        entries, relative = resolve(run, base, anchor_ms=0)
        assert not relative, "export times are absolute"
        for entry in entries:
            assert entry.problem is None, entry.problem
            out.append(SenmlValue(base, entry.name, entry.time_ms, entry.unit, entry.value))
    return out
