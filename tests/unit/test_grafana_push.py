"""What ``smartcity grafana push`` decides without a Grafana: what counts as a difference, which versions it
accepts, the city's folder uid, its settings against the provisioning file's variables, the payloads."""

from __future__ import annotations

import pytest

from grafana_view.datasources import ENVIRONMENT, datasource_payloads, datasources_file
from grafana_view.grafana_api import GrafanaRefused, GrafanaTooOld, NotGrafana
from grafana_view.push import PushSettings, check_version, city_folder_uid, contains
from smartcity.city.generate import generate_city
from smartcity.envsettings import setting_names


def test_contains_ignores_what_grafana_adds_and_sees_every_difference() -> None:
    desired = {"title": "t", "panels": [{"id": 1, "targets": [{"refId": "A"}]}], "tags": ["smartcity"]}
    stored = desired | {"id": 7, "version": 3, "panels": [{"id": 1, "targets": [{"refId": "A", "hide": False}]}]}
    assert contains(stored, desired)
    assert not contains(stored | {"title": "edited"}, desired)
    assert not contains(stored | {"tags": ["smartcity", "extra"]}, desired), "lists must match in length"
    assert not contains({key: value for key, value in stored.items() if key != "tags"}, desired)
    assert not contains(stored | {"panels": [{"id": 2, "targets": [{"refId": "A"}]}]}, desired)
    assert not contains(None, desired)


@pytest.mark.parametrize("version", ["11.0.0", "11.6.3", "12.1.0+security-01", "13.0.0-pre"])
def test_grafana_11_and_later_are_accepted(version: str) -> None:
    assert check_version({"database": "ok", "version": version}) == version


@pytest.mark.parametrize("version", ["10.4.18", "9.5.0", "8.0.0-beta1"])
def test_older_grafanas_are_too_old(version: str) -> None:
    with pytest.raises(GrafanaTooOld, match="need Grafana 11 or later"):
        check_version({"database": "ok", "version": version})


def test_a_version_that_is_no_version_or_a_failing_database_stops_the_push() -> None:
    with pytest.raises(NotGrafana):
        check_version({"database": "ok", "version": "unknown"})
    with pytest.raises(GrafanaRefused, match="database"):
        check_version({"database": "failing", "version": "11.6.0"})


def test_the_city_folder_uid_is_a_slug_within_grafanas_40_characters() -> None:
    assert city_folder_uid(generate_city(devices=10, seed=1)) == "smartcity-demo-city"
    long = generate_city(devices=10, seed=1, name="Sankt Märgen im Hochschwarzwald, Landkreis Breisgau")
    uid = city_folder_uid(long)
    assert len(uid) <= 40
    assert uid.startswith("smartcity-sankt-m-rgen-im-")
    assert not uid.endswith("-")


def test_push_reads_the_variables_the_provisioning_file_names() -> None:
    settings = PushSettings()
    assert set(settings.environment()) == set(ENVIRONMENT)
    assert set(ENVIRONMENT) <= setting_names(PushSettings)


def test_the_api_payloads_are_the_provisioned_datasources_with_values() -> None:
    values = dict.fromkeys(ENVIRONMENT, "x") | {"SMARTCITY_GRAFANA_INFLUX_PASSWORD": ""}
    payloads = datasource_payloads(values)
    provisioned = datasources_file()["datasources"]
    assert isinstance(provisioned, list)
    assert [p["uid"] for p in payloads] == [p["uid"] for p in provisioned]
    assert all("editable" not in payload for payload in payloads)
    assert all("secureJsonData" not in payload for payload in payloads), "an empty password is not sent"
    with_password = datasource_payloads(values | {"SMARTCITY_GRAFANA_INFLUX_PASSWORD": "pw"})
    assert with_password[0]["secureJsonData"] == {"password": "pw"}
    assert with_password[0]["url"] == "x"
