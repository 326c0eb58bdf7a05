"""Stable client ids for gateway replicas and the holder claim that names who holds one."""

from __future__ import annotations

from pathlib import Path

import pytest

from smartcity.city.credentials import acl_file
from smartcity.client_ids import (
    DEFAULT_GATEWAY_CLIENT_ID,
    HolderClaim,
    claim_filter,
    claim_topic,
    decode_claim,
    encode_claim,
    gateway_client_id,
    other_holder,
)
from smartcity.contract.topics import TopicScheme


def test_an_explicit_id_wins_and_without_a_group_the_default_is_used(tmp_path: Path) -> None:
    assert gateway_client_id("gw-a", "ingest", hostname="h", spool_dir=tmp_path) == "gw-a"
    assert gateway_client_id(None, None, hostname="h", spool_dir=tmp_path) == DEFAULT_GATEWAY_CLIENT_ID


def test_in_a_group_the_id_follows_host_and_spool_directory_and_is_stable(tmp_path: Path) -> None:
    first = gateway_client_id(None, "ingest", hostname="gateway-0", spool_dir=tmp_path / "a")
    assert first == gateway_client_id(None, "ingest", hostname="gateway-0", spool_dir=tmp_path / "a")  # restarts
    assert first.startswith("smartcity-gateway-gateway-0-")
    assert len(first.rsplit("-", 1)[1]) == 6
    others = {
        gateway_client_id(None, "ingest", hostname="gateway-1", spool_dir=tmp_path / "a"),  # another pod
        gateway_client_id(None, "ingest", hostname="gateway-0", spool_dir=tmp_path / "b"),  # same host, own spool
    }
    assert first not in others
    assert len(others) == 2


def test_host_names_are_cleaned_into_one_topic_safe_level(tmp_path: Path) -> None:
    client_id = gateway_client_id(None, "g", hostname="gw_0.example/org+#", spool_dir=tmp_path)
    assert client_id.startswith("smartcity-gateway-gw-0-example-org-")
    with pytest.raises(ValueError, match="set MQTT__CLIENT_ID for each replica"):
        gateway_client_id(None, "g", hostname="///", spool_dir=tmp_path)


def test_a_claim_round_trips_and_tells_our_own_from_another_holders() -> None:
    claim = HolderClaim("smartcity-gateway", "c0ffee", "gateway-1", 4242, 1_764_390_000_000)
    payload = encode_claim(claim)
    assert decode_claim(payload) == claim
    assert other_holder("c0ffee", payload) is None
    assert other_holder("beef", payload) == claim
    assert other_holder("beef", b"") is None  # cleared: nobody holds it
    assert claim.describe() == "pid 4242 on gateway-1 (instance c0ffee, started at 1764390000000 ms)"
    with pytest.raises(ValueError, match="not a holder claim"):
        decode_claim(b'{"client_id": 1}')


def test_claim_topic_is_one_level_per_client_id() -> None:
    assert claim_topic("city", "smartcity-gateway") == "city/v1/sys/gateway/smartcity-gateway/holder"
    for bad in ("", "a/b", "a+", "#"):
        with pytest.raises(ValueError, match="cannot be a topic level"):
            claim_topic("city", bad)


def test_the_gateway_account_may_read_and_write_every_claim() -> None:
    acl = acl_file(TopicScheme("metro"))
    gateway = acl.split("user gateway", 1)[1].split("\n\n", 1)[0]
    assert "topic readwrite metro/v1/sys/gateway/+/holder" in gateway
    assert claim_filter("metro") == "metro/v1/sys/gateway/+/holder"
