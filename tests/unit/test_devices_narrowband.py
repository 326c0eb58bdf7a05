"""Narrowband packs never exceed the radio's payload budget; out of coverage, readings wait in the backlog and
leave later, newest first, several per pack; commands wait for the device to wake."""

from __future__ import annotations

from collections import deque

from hypothesis import given, settings
from hypothesis import strategies as st

from devices.clock import SimClock
from devices.device_core import RunContext
from devices.faults import NO_FAULTS
from devices.narrowband import NarrowbandDevice, build_pack, fit_reading
from devices.netserver import NetworkServer, ServerAccount
from devices.signals import SignalModel
from devices.stats import RunStats
from smartcity.city.model import DeviceType, RadioProfile
from smartcity.contract.messages import Command
from smartcity.contract.reading import Reading
from smartcity.contract.senml import decode_senml_cbor, encode_senml_cbor
from smartcity.contract.topics import TopicScheme
from tests.support.devices import simulator_city

NUMERIC_TYPES = [t for t in DeviceType if t is not DeviceType.INFO_DISPLAY]
T0 = 1_772_000_000_000

_value = st.one_of(
    st.floats(min_value=-100, max_value=1e6, allow_nan=False, allow_infinity=False),
    st.integers(min_value=0, max_value=100_000),
    st.booleans(),
)
_reading = st.builds(
    Reading,
    device_id=st.just("nb-0"),
    seq=st.integers(min_value=0, max_value=2**40),
    ts_ms=st.integers(min_value=T0, max_value=T0 + 10**10),
    values=st.dictionaries(st.sampled_from(["no2", "pm25", "battery", "rssi", "report_interval"]), _value, min_size=1),
)


@settings(max_examples=150, deadline=None)
@given(first=_reading, backlog=st.lists(_reading, max_size=30), radio=st.sampled_from(list(RadioProfile)))
def test_packs_never_exceed_the_payload_budget(first: Reading, backlog: list[Reading], radio: RadioProfile) -> None:
    budget = radio.payload_budget
    fitted = fit_reading(first, budget)
    queue = deque(fit_reading(reading, budget) for reading in backlog)
    payload, taken = build_pack(fitted, queue, budget)
    assert len(payload) <= budget
    assert taken <= len(queue)
    assert len([r for r in decode_senml_cbor(payload) if r.n == "seq"]) == 1 + taken


def _device(coverage: bool) -> tuple[NarrowbandDevice, NetworkServer, SimClock]:
    city = simulator_city(narrowband=[(DeviceType.WEATHER, RadioProfile.LORAWAN_SF12)])
    clock = SimClock(start_ms=T0, speed=1.0, _wall0=0.0)
    run = RunContext(scheme=TopicScheme("t"), clock=clock, model=SignalModel(city, 1), stats=RunStats())
    account = ServerAccount("::1", 1, "ns", None, None, 30, 0.1, 1.0)
    server = NetworkServer(run, account)
    device = NarrowbandDevice(run.model.context(city.devices[0]), run, NO_FAULTS.for_device(1, "nb-0", None), server)
    device.coverage_override = coverage
    return device, server, clock


def _sent(server: NetworkServer) -> list[bytes]:
    return [payload for _, payload, _ in server._outbox]


def test_every_uplink_of_every_numeric_type_fits_its_budget() -> None:
    city = simulator_city(narrowband=[(t, r) for t in NUMERIC_TYPES for r in RadioProfile])
    run = RunContext(TopicScheme("t"), SimClock(T0, _wall0=0.0), SignalModel(city, 1), RunStats())
    server = NetworkServer(run, ServerAccount("::1", 1, "ns", None, None, 30, 0.1, 1.0))
    devices = [
        NarrowbandDevice(run.model.context(d), run, NO_FAULTS.for_device(1, d.id, None), server) for d in city.devices
    ]
    for device in devices:
        for step in range(20):
            device.wake(device.core.make_reading(T0 + step * 600_000))
    assert len(server._outbox) >= 20 * len(devices)
    for (topic, payload, _), budget in zip(
        server._outbox, [d.budget for d in devices for _ in range(20)], strict=False
    ):
        assert len(payload) <= budget, topic
    assert run.stats.counters["dropped_over_radio_budget"] == 0


def test_backlog_waits_out_of_coverage_and_leaves_later_newest_first() -> None:
    device, server, _ = _device(coverage=False)
    device.core.controls.report_interval_s = 1200  # 1200 s / 247 s duty-cycle minimum: about 4 uplinks per wake
    for step in range(6):
        device.wake(device.core.make_reading(T0 + step * 1_200_000))
    assert len(device.backlog) == 6
    assert not _sent(server)
    device.coverage_override = True
    for step in range(6, 12):
        device.wake(device.core.make_reading(T0 + step * 1_200_000))
    assert not device.backlog
    seqs: list[int] = []
    for payload in _sent(server):
        seqs += [int(r.v) for r in decode_senml_cbor(payload) if r.n == "seq" and isinstance(r.v, int | float)]
    assert sorted(seqs) == list(range(12))
    assert seqs != sorted(seqs)  # the backlog arrives late and out of order


def test_a_command_waits_until_the_device_wakes() -> None:
    device, server, _ = _device(coverage=True)
    device.pending_commands.append(Command(id="k", name="set_report_interval", args={"seconds": 900}, ts_ms=0))
    assert device.core.controls.report_interval_s == 300
    device.wake(device.core.make_reading(T0))
    assert device.core.controls.report_interval_s == 900
    assert any(b'"id":"k"' in payload and b'"ok"' in payload for payload in _sent(server))


def test_single_reading_pack_is_smaller_without_base_name() -> None:
    reading = Reading("nb-0", 1, T0, {"no2": 12.5})
    assert len(encode_senml_cbor([reading], base_name=False)) < len(encode_senml_cbor([reading]))
