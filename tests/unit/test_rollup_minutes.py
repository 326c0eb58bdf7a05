"""Folding an hour's raw rows in one pass gives, byte for byte, the lines that the aggregate arithmetic of
:mod:`services.rollup.aggregate` gives for the same points (one :class:`Aggregate` per point, merged), whatever
the sampling: several points a minute, gaps, absent fields, integers, booleans, text, meter resets."""

from __future__ import annotations

import random

import pytest

from services.rollup.aggregate import Aggregate, SeriesKey, Windows, coarsen, lines, meter_increases, series_key
from services.rollup.compute import BY_MEASUREMENT
from services.rollup.minutes import fold_hour
from services.rollup.windows import hour_of, minute_of
from smartcity.contract.metrics import MetricKind, MetricSpec, Temporality
from smartcity.influx.client import JsonScalar, Series

HOUR_MS = 3_600_000
START = 1_744_848_000_000
MEASUREMENTS = ("energy", "street_light", "display", "air_quality", "traffic")


def _value(spec: MetricSpec, rng: random.Random, register: dict[str, float]) -> JsonScalar:
    if spec.temporality is Temporality.REGISTER:
        register[spec.name] = rng.random() * 5 if rng.random() < 0.05 else register[spec.name] + rng.random() * 3
        return register[spec.name]
    if spec.kind is MetricKind.FLOAT:
        return rng.choice([rng.random() * 1000, float(rng.randint(0, 50)), 0.1, 0.2, 1e-7])
    if spec.kind is MetricKind.INT:
        return rng.randint(0, 100)
    if spec.kind is MetricKind.BOOL:
        return rng.random() < 0.5
    return rng.choice(["Welcome", "Road closed"])


def _series(measurement: str, rng: random.Random, devices: int) -> list[Series]:
    specs = BY_MEASUREMENT[measurement]
    out = []
    for device in range(devices):
        register = {spec.name: 100.0 for spec in specs}
        times = sorted(rng.sample(range(START, START + HOUR_MS, 1_000), rng.choice([1, 5, 60, 300])))
        rows: list[list[JsonScalar]] = [
            [ts, *(_value(spec, rng, register) if rng.random() < 0.8 else None for spec in specs)] for ts in times
        ]
        tags = {"device": f"d-{device}", "district": rng.choice(["north", "south"]), "facility": ""}
        out.append(Series(measurement, tags, ["time", *(spec.field for spec in specs)], rows))
    return out


def _reference(answer: list[Series], specs: list[MetricSpec], previous: dict[tuple[SeriesKey, str], float]) -> Windows:
    """Minute aggregates the long way: one Aggregate per point, merged; increases as the worker adds them."""
    minutes: Windows = {}
    for series in answer:
        key = series_key(series)
        target = minutes.setdefault(key, {})
        for row in series.values:
            assert isinstance(row[0], int)
            for spec, value in zip(specs, row[1:], strict=True):
                if value is None:
                    continue
                number = float(value) if spec.kind in (MetricKind.FLOAT, MetricKind.INT) else None
                point = Aggregate(count=1, sum=number, min=number, max=number)
                target.setdefault(minute_of(row[0]), {}).setdefault(spec.name, Aggregate()).merge(point)
        for at, spec in enumerate(specs, start=1):
            if spec.temporality is not Temporality.REGISTER:
                continue
            points = [(int(str(row[0])), float(str(row[at]))) for row in series.values if row[at] is not None]
            for start, amount in meter_increases(points, previous.get((key, spec.field)), minute_of).items():
                aggregate = target.setdefault(start, {}).setdefault(spec.name, Aggregate())
                aggregate.increase = (aggregate.increase or 0.0) + amount
    return minutes


@pytest.mark.parametrize("seed", range(6))
def test_one_pass_gives_the_lines_of_the_aggregate_arithmetic(seed: int) -> None:
    rng = random.Random(seed)
    for measurement in MEASUREMENTS:
        specs = list(BY_MEASUREMENT[measurement])
        answer = _series(measurement, rng, devices=8)
        previous = {
            (series_key(series), spec.field): rng.random() * 200
            for series in answer
            for spec in specs
            if spec.temporality is Temporality.REGISTER and rng.random() < 0.7
        }
        folded = fold_hour(answer, specs, START, previous)
        minutes = _reference(answer, specs, previous)
        assert folded.minute_lines == lines(minutes), measurement
        assert folded.hour_lines == lines(coarsen(minutes, hour_of)), measurement
        assert folded.minute_lines


def test_a_single_point_fills_sum_min_and_max_and_a_series_without_values_writes_nothing() -> None:
    answer = [
        Series("traffic", {"device": "tc-1"}, ["time", "vehicle_count", "vehicle_speed"], [[START + 5, 7, None]]),
        Series("traffic", {"device": "tc-2"}, ["time", "vehicle_count", "vehicle_speed"], [[START + 9, None, None]]),
    ]
    folded = fold_hour(answer, BY_MEASUREMENT["traffic"], START)
    fields = "vehicle_count_count=1i,vehicle_count_sum=7.0,vehicle_count_min=7.0,vehicle_count_max=7.0"
    assert folded.minute_lines == [f"traffic,device=tc-1 {fields} {START}"]
    assert folded.hour_lines == [f"traffic,device=tc-1 {fields} {START}"]
