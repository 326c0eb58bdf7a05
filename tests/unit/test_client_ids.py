"""Stable client ids for gateway replicas."""

from __future__ import annotations

from pathlib import Path

import pytest

from smartcity.client_ids import (
    DEFAULT_GATEWAY_CLIENT_ID,
    gateway_client_id,
)


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
