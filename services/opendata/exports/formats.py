"""The three export formats, each written a chunk of rows at a time (:func:`body`), so nothing holds the file.

CSV (RFC 4180, UTF-8, header row, ``\\r\\n``): ``time`` (the reading's instant, or the window's start, ISO 8601
UTC), the place (``sensor`` and its ``facility``, or ``facility``), ``facility_kind``, ``district``, ``lat``,
``lon`` (WGS 84, the city model's location), then one column per value (:mod:`services.opendata.exports.columns`);
an empty cell is a value the row does not have.

GeoJSON (RFC 7946): one FeatureCollection, a ``metadata`` member with the provenance first, then one Feature per
row: a Point at the place (longitude, latitude) and the same columns as properties (no value: ``null``).

SenML JSON (RFC 8428): one pack; each row is a run of records, the first with the base name ``{place}:`` and the
base time (seconds, absolute), one record per value with its name and unit (no value: no record).
"""

from __future__ import annotations

import csv
import io
from collections.abc import AsyncGenerator, AsyncIterator, Mapping
from typing import Protocol

import msgspec

from services.api.schemas import iso
from services.opendata.exports.columns import Layout, RowKind, Value
from services.opendata.exports.provenance import Provenance
from services.opendata.exports.reader import Row
from services.opendata.exports.request import Place
from services.opendata.vocabularies import ExportFormat

_JSON = msgspec.json.Encoder()


class Encoder(Protocol):
    def head(self) -> bytes: ...

    def rows(self, rows: list[Row]) -> bytes: ...

    def tail(self) -> bytes: ...


_PLACE_COLUMNS = {
    RowKind.SENSOR: ("sensor", "facility", "facility_kind", "district"),
    RowKind.FACILITY: ("facility", "facility_kind", "district"),
    RowKind.RELEASE: ("area",),
}


def header(layout: Layout) -> list[str]:
    """The CSV columns of a dataset."""
    return ["time", *_PLACE_COLUMNS[layout.rows], "lat", "lon", *(c.name for c in layout.columns)]


def _place_ids(layout: Layout, place: Place) -> list[str]:
    if layout.rows is RowKind.SENSOR:
        return [place.id, place.facility, place.facility_kind, place.district]
    if layout.rows is RowKind.FACILITY:
        return [place.id, place.facility_kind, place.district]
    return [place.id]


def _place_values(layout: Layout, place: Place) -> list[str | float]:
    return [*_place_ids(layout, place), place.lat, place.lon]


def _geometry(place: Place) -> bytes:
    if place.ring:
        return b'{"type":"Polygon","coordinates":' + _JSON.encode([list(place.ring)]) + b"}"
    return b'{"type":"Point","coordinates":' + _JSON.encode([place.lon, place.lat]) + b"}"


class _Times:
    """ISO 8601 text of the instants of one chunk (hourly rows share a few)."""

    def __init__(self) -> None:
        self._seen: dict[int, str] = {}

    def __call__(self, ms: int) -> str:
        text = self._seen.get(ms)
        if text is None:
            if len(self._seen) > 4096:
                self._seen.clear()
            text = self._seen[ms] = iso(ms)
        return text


class CsvEncoder:
    def __init__(self, layout: Layout, places: Mapping[str, Place]) -> None:
        self._layout = layout
        self._places = {ident: _place_values(layout, place) for ident, place in places.items()}
        self._time = _Times()

    def head(self) -> bytes:
        return self._write([header(self._layout)])

    def rows(self, rows: list[Row]) -> bytes:
        places, time = self._places, self._time
        return self._write([time(ts), *places[place], *values] for ts, place, values in rows)

    def tail(self) -> bytes:
        return b""

    @staticmethod
    def _write(rows: object) -> bytes:
        buffer = io.StringIO()
        csv.writer(buffer).writerows(rows)  # type: ignore[arg-type]
        return buffer.getvalue().encode()


class GeoJsonEncoder:
    def __init__(self, layout: Layout, places: Mapping[str, Place], provenance: Provenance) -> None:
        self._provenance = provenance
        self._layout = layout
        fixed = _PLACE_COLUMNS[layout.rows]
        self._names = ["time", *(c.name for c in layout.columns)]
        self._heads = {
            ident: b'{"type":"Feature","geometry":'
            + _geometry(place)
            + b',"properties":'
            + _JSON.encode(dict(zip(fixed, _place_ids(layout, place), strict=True)))[:-1]
            + b","
            for ident, place in places.items()
        }
        self._time = _Times()
        self._first = True

    def head(self) -> bytes:
        metadata = _JSON.encode(self._provenance.metadata(self._layout))
        return b'{"type":"FeatureCollection","metadata":' + metadata + b',"features":['

    def rows(self, rows: list[Row]) -> bytes:
        heads, names, time = self._heads, self._names, self._time
        features = [
            heads[place] + _JSON.encode(dict(zip(names, (time(ts), *values), strict=True)))[1:] + b"}"
            for ts, place, values in rows
        ]
        text = b",".join(features)
        if not self._first:
            return b"," + text
        self._first = False
        return text

    def tail(self) -> bytes:
        return b"]}\n"


class SenmlEncoder:
    def __init__(self, layout: Layout) -> None:
        self._columns = [(c.name, c.unit, c.in_senml) for c in layout.columns]
        names = [c.name for c in layout.columns]
        self._labels = [
            names.index(n) for n in ("kind", "window_level") if n in names and layout.rows is RowKind.RELEASE
        ]
        self._first = True

    def head(self) -> bytes:
        return b"["

    def rows(self, rows: list[Row]) -> bytes:
        records: list[dict[str, object]] = []
        for ts, place, values in rows:
            run: list[dict[str, object]] = []
            for (name, unit, shown), v in zip(self._columns, values, strict=True):
                record = _record(name, unit, v) if shown else None
                if record is not None:
                    run.append(record)
            if not run:
                continue
            base = ":".join([place, *(str(values[i]) for i in self._labels)])  # a release cell: area:kind:window
            run[0] = {"bn": f"{base}:", "bt": ts // 1000 if ts % 1000 == 0 else ts / 1000} | run[0]
            records += run
        if not records:
            return b""
        text = _JSON.encode(records)[1:-1]
        if not self._first:
            return b"," + text
        self._first = False
        return text

    def tail(self) -> bytes:
        return b"]\n"


def _record(name: str, unit: str, value: Value) -> dict[str, object] | None:
    if value is None:
        return None
    if isinstance(value, str):
        return {"n": name, "vs": value}
    return {"n": name, "u": unit, "v": value} if unit else {"n": name, "v": value}


def encoder_for(
    export_format: ExportFormat, layout: Layout, places: Mapping[str, Place], provenance: Provenance
) -> Encoder:
    if export_format is ExportFormat.CSV:
        return CsvEncoder(layout, places)
    if export_format is ExportFormat.GEOJSON:
        return GeoJsonEncoder(layout, places, provenance)
    return SenmlEncoder(layout)


async def body(
    encoder: Encoder, first: list[Row] | None, rest: AsyncGenerator[list[Row], None]
) -> AsyncIterator[bytes]:
    """The document: its head, every chunk of rows as it comes, its tail; the row source is closed however the
    stream ends (a client that goes away stops the reading)."""
    try:
        yield encoder.head()
        if first:
            yield encoder.rows(first)
        async for rows in rest:
            yield encoder.rows(rows)
        yield encoder.tail()
    finally:
        await rest.aclose()
