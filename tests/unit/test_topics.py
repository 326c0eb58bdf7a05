"""The topic scheme: fixed depth, versioned, one device level; building and parsing agree."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from smartcity.contract.topics import DeviceTopic, TopicError, TopicKind, TopicScheme
from tests.support.contract import PROPERTY_SETTINGS

SCHEME = TopicScheme("city")


def test_topics_of_every_kind() -> None:
    assert {kind: SCHEME.device("aq-000123", kind) for kind in TopicKind} == {
        TopicKind.READING: "city/v1/dev/aq-000123/reading",
        TopicKind.SENML: "city/v1/dev/aq-000123/senml",
        TopicKind.SENML_CBOR: "city/v1/dev/aq-000123/senml-cbor",
        TopicKind.STATUS: "city/v1/dev/aq-000123/status",
        TopicKind.BIRTH: "city/v1/dev/aq-000123/birth",
        TopicKind.COMMAND: "city/v1/dev/aq-000123/cmd",
        TopicKind.COMMAND_ACK: "city/v1/dev/aq-000123/cmd-ack",
    }
    assert SCHEME.device_filter(TopicKind.SENML) == "city/v1/dev/+/senml"
    assert SCHEME.device_filter(TopicKind.COMMAND, "sl-1") == "city/v1/dev/sl-1/cmd"
    assert SCHEME.dead_letter("wrong-type") == "city/v1/sys/dead-letter/wrong-type"
    assert SCHEME.dead_letter_filter() == "city/v1/sys/dead-letter/+"


def test_only_readings_and_packs_are_telemetry() -> None:
    assert {kind for kind in TopicKind if kind.is_telemetry} == {
        TopicKind.READING,
        TopicKind.SENML,
        TopicKind.SENML_CBOR,
    }


@pytest.mark.parametrize(
    ("topic", "message"),
    [
        ("city/v1/dev/aq-1", "has 4 levels, the contract has 5"),
        ("city/v1/dev/aq-1/reading/extra", "has 6 levels"),
        ("town/v1/dev/aq-1/reading", "is not under city/v1/dev/"),
        ("city/v2/dev/aq-1/reading", "is not under city/v1/dev/"),
        ("city/v1/sys/aq-1/reading", "is not under city/v1/dev/"),
        ("city/v1/dev/AQ-1/reading", "is not a valid device id"),
        ("city/v1/dev/+/reading", "is not a valid device id"),
        ("city/v1/dev//reading", "is not a valid device id"),
        ("city/v1/dev/aq-1/Reading", "unknown topic kind 'Reading'"),
        ("", "has 1 levels"),
    ],
)
def test_bad_topics_say_what_is_wrong(topic: str, message: str) -> None:
    with pytest.raises(TopicError, match=message.replace("+", r"\+")):
        SCHEME.parse(topic)


@pytest.mark.parametrize("root", ["", "City", "a/b", "a b", "-x", "+", "#"])
def test_root_is_one_lower_case_level(root: str) -> None:
    with pytest.raises(TopicError, match="must be one lower-case level"):
        TopicScheme(root)


@pytest.mark.parametrize("device_id", ["", "Aq", "a/b", "a+b", "#", "a--b", "-a"])
def test_device_id_must_be_a_clean_level(device_id: str) -> None:
    with pytest.raises(TopicError, match="not a valid topic level"):
        SCHEME.device(device_id, TopicKind.READING)


DEVICE_IDS = st.from_regex(r"\A[a-z0-9]{1,8}(-[a-z0-9]{1,8}){0,3}\Z")


@PROPERTY_SETTINGS
@given(device_id=DEVICE_IDS, kind=st.sampled_from(TopicKind), root=DEVICE_IDS)
def test_build_then_parse_round_trips(device_id: str, kind: TopicKind, root: str) -> None:
    scheme = TopicScheme(root)
    topic = scheme.device(device_id, kind)
    assert topic.count("/") == 4
    assert scheme.parse(topic) == DeviceTopic(device_id, kind)


@PROPERTY_SETTINGS
@given(
    topic=st.text(max_size=60)
    | st.lists(st.sampled_from(["city", "v1", "dev", "aq-1", "reading", "", "+"])).map("/".join)
)
def test_parse_raises_only_topic_errors(topic: str) -> None:
    message = ""
    try:
        parsed = SCHEME.parse(topic)
    except TopicError as error:
        message = str(error)
    else:
        assert SCHEME.device(parsed.device_id, parsed.kind) == topic
        return
    assert message  # a refusal always says why
