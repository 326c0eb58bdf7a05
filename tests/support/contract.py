"""A tiny device directory, clock and parse shortcut shared by the contract tests."""

from __future__ import annotations

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

from smartcity.city.directory import DeviceDirectory, DeviceInfo
from smartcity.city.model import DeviceType, FacilityKind, NetworkClass
from smartcity.contract.metrics import DEVICE_METRICS, METRICS, MetricKind
from smartcity.contract.parse import ParseLimits, parse_message
from smartcity.contract.reading import ParseOutcome, Reading, RejectReason, Value
from smartcity.contract.topics import TopicKind, TopicScheme

NOW_MS = 1_764_390_000_123
SCHEME = TopicScheme("city")

AIR = "aq-000123"
LIGHT = "sl-000007"
PARKING = "pb-000042"
DISPLAY = "id-000009"
OCCUPANCY = "oc-000001"

DIRECTORY = DeviceDirectory(
    [
        DeviceInfo(AIR, DeviceType.AIR_QUALITY, "north", "school-0001", FacilityKind.SCHOOL, NetworkClass.BROADBAND),
        DeviceInfo(LIGHT, DeviceType.STREET_LIGHT, "south", "street-0002", FacilityKind.STREET_SEGMENT,
                   NetworkClass.NARROWBAND),
        DeviceInfo(PARKING, DeviceType.PARKING_BAY, "south", "carpark-0003", FacilityKind.CAR_PARK,
                   NetworkClass.NARROWBAND),
        DeviceInfo(DISPLAY, DeviceType.INFO_DISPLAY, "east", "library-0004", FacilityKind.LIBRARY,
                   NetworkClass.BROADBAND),
        DeviceInfo(OCCUPANCY, DeviceType.OCCUPANCY, "east", "school-0005", FacilityKind.SCHOOL,
                   NetworkClass.BROADBAND),
    ]
)  # fmt: skip

PROPERTY_SETTINGS = settings(
    max_examples=120,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
"""Modest example counts: the test machine is shared."""

DOCUMENTED_REASONS = frozenset(RejectReason)


def topic(device_id: str = "aq-1", kind: TopicKind = TopicKind.READING) -> str:
    """The contract topic of ``device_id`` under the tests' root ``city`` (the one topic helper of the tests)."""
    return SCHEME.device(device_id, kind)


def parse(
    payload: bytes,
    device_id: str = AIR,
    kind: TopicKind = TopicKind.READING,
    *,
    limits: ParseLimits | None = None,
    raw_topic: str | None = None,
) -> ParseOutcome:
    """parse_message with the shared directory and clock."""
    return parse_message(
        raw_topic if raw_topic is not None else topic(device_id, kind),
        payload,
        scheme=SCHEME,
        directory=DIRECTORY,
        now_ms=NOW_MS,
        limits=limits or ParseLimits(),
    )


def only_rejection(outcome: ParseOutcome) -> tuple[RejectReason, str]:
    """The single rejection of an outcome without readings, as (reason, detail)."""
    assert outcome.readings == [], outcome
    assert len(outcome.rejections) == 1, outcome
    return outcome.rejections[0].reason, outcome.rejections[0].detail


TEXT = st.text(
    alphabet=st.characters(blacklist_categories=("Cc", "Cs"), blacklist_characters="\u2028\u2029"), max_size=256
)


def metric_values(name: str) -> st.SearchStrategy[Value]:
    """Valid values of one metric, edges included."""
    spec = METRICS[name]
    if spec.kind is MetricKind.BOOL:
        return st.booleans()
    if spec.kind is MetricKind.STRING:
        return TEXT
    lo = -1e300 if spec.minimum is None else spec.minimum
    hi = 1e300 if spec.maximum is None else spec.maximum
    if spec.kind is MetricKind.INT:
        return st.integers(min_value=int(lo), max_value=int(hi))
    return st.floats(min_value=lo, max_value=hi, allow_nan=False, allow_infinity=False)


@st.composite
def valid_readings(draw: st.DrawFn, device_id: str | None = None, ts_ms: int | None = None) -> Reading:
    """A reading that passes validation for one of the directory's devices."""
    info = DIRECTORY.get(device_id) if device_id else draw(st.sampled_from(list(DIRECTORY)))
    assert info is not None
    names = draw(st.lists(st.sampled_from(DEVICE_METRICS[info.device_type]), min_size=1, unique=True))
    values = {name: draw(metric_values(name)) for name in names}
    seq = draw(st.integers(min_value=0, max_value=2**63 - 1))
    if ts_ms is None:
        ts_ms = draw(st.integers(min_value=NOW_MS - 31 * 86_400_000, max_value=NOW_MS + 300_000))
    return Reading(info.device_id, seq, ts_ms, values)


def typed(reading: Reading) -> tuple[str, int | None, int, list[tuple[str, type, Value]]]:
    """A reading with its value types spelled out (1 == 1.0 == True in Python, not in InfluxDB); metric order
    does not matter."""
    return reading.device_id, reading.seq, reading.ts_ms, sorted((k, type(v), v) for k, v in reading.values.items())
