"""Contract throughput on one core: parse + validate + encode (line protocol), readings per second.

Run: ``.venv/bin/python -m bench.contract_bench [--readings 20000] [--repeat 5]``

Three formats: JSON readings, SenML JSON packs and SenML CBOR packs (narrowband uplinks of a few readings),
from devices of every type, every reading carrying all its type's metrics plus battery and signal strength
(so most readings become two lines: their measurement and ``device_vitals``). The contract path is
``parse_message`` (topic, size, schema, duplicate keys, registry rules, timestamps) and ``LineEncoder.encode_parsed``
(five registry tags, escaped per position). The baseline, measured in the same run on the same payloads, is
what a bridge written in an afternoon does: ``json.loads`` (or ``cbor2.loads``) and one f-string line with one
tag, no validation, no escaping, no duplicate-key or range checks. The ratio says what the contract costs.
Rates are per core: each chunk of messages is timed several times in thread CPU time, runs alternating, and
the fastest time of each chunk counts, so other load on the machine shows as little as possible.
"""

from __future__ import annotations

import argparse
import json
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import cbor2

from smartcity.city.directory import DeviceDirectory, DeviceInfo
from smartcity.city.model import DeviceType, FacilityKind, NetworkClass
from smartcity.contract.metrics import DEVICE_METRICS, METRICS, MetricKind
from smartcity.contract.parse import parse_message
from smartcity.contract.reading import Reading, Value
from smartcity.contract.senml import encode_senml_cbor, encode_senml_json
from smartcity.contract.topics import TopicKind, TopicScheme
from smartcity.contract.wire import encode_reading_json
from smartcity.influx.lineprotocol import LineEncoder

NOW_MS = 1_764_390_000_000
DEVICES = 10_000
READINGS_PER_PACK = 4


@dataclass(frozen=True)
class Workload:
    name: str
    messages: list[tuple[str, bytes]]
    readings: int


def _value(name: str, rng: random.Random) -> Value:
    spec = METRICS[name]
    if spec.kind is MetricKind.BOOL:
        return rng.random() < 0.5
    if spec.kind is MetricKind.STRING:
        return "Bus 42 delayed 5 min"
    lo = 0.0 if spec.minimum is None else spec.minimum
    hi = 100.0 if spec.maximum is None else spec.maximum
    if spec.kind is MetricKind.INT:
        return rng.randint(int(lo), int(min(hi, lo + 500)))
    return round(rng.uniform(lo, min(hi, lo + 500)), 1)


def build(count: int, seed: int = 7) -> tuple[DeviceDirectory, list[Reading]]:
    """A directory of synthetic devices of every type and ``count`` readings spread over them."""
    rng = random.Random(seed)
    types = list(DeviceType)
    infos = [
        DeviceInfo(f"dev-{i:06d}", types[i % len(types)], f"district-{i % 12}", f"facility-{i // 8}",
                   FacilityKind.SCHOOL, NetworkClass.BROADBAND)
        for i in range(DEVICES)
    ]  # fmt: skip
    readings = []
    for i in range(count):
        info = infos[rng.randrange(DEVICES)]
        names = [n for n in DEVICE_METRICS[info.device_type] if n != "report_interval"]
        values = {n: _value(n, rng) for n in names}
        readings.append(Reading(info.device_id, i, NOW_MS - 7 * (count - i), values))
    return DeviceDirectory(infos), readings


def workloads(readings: Sequence[Reading], scheme: TopicScheme) -> list[Workload]:
    json_messages = [(scheme.device(r.device_id, TopicKind.READING), encode_reading_json(r)) for r in readings]
    by_device: dict[str, list[Reading]] = {}
    for reading in readings:
        by_device.setdefault(reading.device_id, []).append(reading)
    packs = [
        group[i : i + READINGS_PER_PACK]
        for group in by_device.values()
        for i in range(0, len(group), READINGS_PER_PACK)
    ]
    senml_json = [(scheme.device(p[0].device_id, TopicKind.SENML), encode_senml_json(p)) for p in packs]
    senml_cbor = [(scheme.device(p[0].device_id, TopicKind.SENML_CBOR), encode_senml_cbor(p)) for p in packs]
    return [
        Workload("JSON reading", json_messages, len(readings)),
        Workload("SenML JSON pack", senml_json, len(readings)),
        Workload("SenML CBOR pack", senml_cbor, len(readings)),
    ]


def contract_path(directory: DeviceDirectory, scheme: TopicScheme) -> Callable[[list[tuple[str, bytes]]], int]:
    encoder = LineEncoder(directory)

    def run(messages: list[tuple[str, bytes]]) -> int:
        lines: list[str] = []
        stored = 0
        for topic, payload in messages:
            outcome = parse_message(topic, payload, scheme=scheme, directory=directory, now_ms=NOW_MS)
            for reading in outcome.readings:
                lines.extend(encoder.encode_parsed(reading))
                stored += 1
            if len(lines) >= 5000:
                lines.clear()
        return stored

    return run


def _naive_line(device: str, ts_ms: int, values: dict[str, object]) -> str:
    fields = ",".join(f"{k}={v}" for k, v in values.items())
    return f"reading,device={device} {fields} {ts_ms}"


def naive_path(kind: str) -> Callable[[list[tuple[str, bytes]]], int]:
    def run_json(messages: list[tuple[str, bytes]]) -> int:
        lines = []
        for _topic, payload in messages:
            doc = json.loads(payload)
            lines.append(_naive_line(doc["dev"], doc["ts"], doc["m"]))
            if len(lines) >= 5000:
                lines.clear()
        return len(messages)

    def run_senml(messages: list[tuple[str, bytes]]) -> int:
        loads: Callable[[bytes], list[dict[Any, Any]]] = json.loads if kind == "json" else cbor2.loads
        n_key, t_key, value_keys = ("n", "t", ("v", "vs", "vb")) if kind == "json" else (0, 6, (2, 3, 4))
        stored = 0
        lines = []
        for topic, payload in messages:
            device = topic.split("/")[3]
            groups: dict[float, dict[str, object]] = {}
            for record in loads(payload):
                value = next((record[key] for key in value_keys if key in record), None)
                groups.setdefault(record.get(t_key, 0), {})[str(record.get(n_key))] = value
            for t, values in groups.items():
                lines.append(_naive_line(device, NOW_MS + int(t * 1000), values))
                stored += 1
            if len(lines) >= 5000:
                lines.clear()
        return stored

    return run_json if kind == "reading" else run_senml


Run = Callable[[list[tuple[str, bytes]]], int]


def measure(runs: Sequence[Run], messages: list[tuple[str, bytes]], repeat: int, chunk: int = 200) -> list[float]:
    """Rate (readings/s of CPU time on one core) of each run. The messages are cut into chunks; each chunk is
    timed ``repeat`` times per run, the runs alternating, and the fastest time of each chunk counts. Times are
    the thread's CPU time: on a shared machine that measures the code, not whoever else was running."""
    chunks = [messages[i : i + chunk] for i in range(0, len(messages), chunk)]
    best = [[float("inf")] * len(chunks) for _ in runs]
    for _ in range(repeat):
        for c, part in enumerate(chunks):
            for r, run in enumerate(runs):
                start = time.thread_time()
                run(part)
                best[r][c] = min(best[r][c], time.thread_time() - start)
    totals = [sum(run(part) for part in chunks) for run in runs]
    return [total / sum(times) for total, times in zip(totals, best, strict=True)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--readings", type=int, default=20_000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    scheme = TopicScheme()
    directory, readings = build(args.readings)
    ours = contract_path(directory, scheme)
    print(f"{args.readings} readings from {DEVICES} devices of {len(DeviceType)} types, best of {args.repeat}")
    print(f"{'format':<18}{'messages':>10}{'bytes/msg':>11}{'contract r/s':>15}{'naive r/s':>13}{'ratio':>8}")
    for workload, naive_kind in zip(workloads(readings, scheme), ("reading", "json", "cbor"), strict=True):
        messages = workload.messages
        size = sum(len(p) for _, p in messages) / len(messages)
        stored = ours(messages)
        if stored != workload.readings:
            raise SystemExit(f"{workload.name}: only {stored} of {workload.readings} readings accepted")
        contract_rate, naive_rate = measure([ours, naive_path(naive_kind)], messages, args.repeat)
        print(
            f"{workload.name:<18}{len(messages):>10}{size:>11.0f}{contract_rate:>15,.0f}{naive_rate:>13,.0f}"
            f"{contract_rate / naive_rate:>8.2f}"
        )


if __name__ == "__main__":
    main()
