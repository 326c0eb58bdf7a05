"""``smartcity grafana push``: the datasources, the dashboards (in a folder of the city's own) and the alert
rules, uploaded to a running Grafana through its HTTP API (:mod:`grafana_view.grafana_api`).

Idempotent: every object is read first and written only when what Grafana holds lacks something the generator
builds (Grafana adds ids, versions and defaults of its own, which are not differences), so a second push writes
nothing. In order: the version (``/api/health``; the dashboards need Grafana :data:`MIN_MAJOR` or later), the
datasources, the city's folder, the dashboards, the alert rules, then the rule group: its interval, and rules of
the group that the generator no longer builds are deleted.

What push will not overwrite: a datasource or dashboard that Grafana provisions from files (push or provisioning
files, not both) and a dashboard in another city's folder (dashboard uids are fixed: one city per Grafana
organisation, ``--org-id``). A datasource's password is never read back, so a changed password is not noticed
while one is set.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from grafana_foundation_sdk.cog.encoder import JSONEncoder
from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from grafana_view.alerting_files import api_json
from grafana_view.alerts import GROUP, INTERVAL_S
from grafana_view.build import alert_rules, dashboards
from grafana_view.common import FOLDER, FOLDER_UID
from grafana_view.datasources import datasource_payloads
from grafana_view.grafana_api import GrafanaConnection, GrafanaRefused, GrafanaTooOld, Json, NotGrafana
from smartcity.city.model import City

MIN_MAJOR = 11
"""The dashboards are schema version 41 (grafana-foundation-sdk's Grafana 11 build); Grafana 10 cannot read them."""
MESSAGE = "smartcity grafana push"
"""The version message of every dashboard push saves."""


class PushSettings(BaseSettings):
    """Settings of ``smartcity grafana push`` and the datasource variables its provisioning files read.

    The datasource settings are the variables the provisioning file reads, so one environment serves both."""

    model_config = SettingsConfigDict(env_prefix="SMARTCITY_GRAFANA_", extra="forbid")

    url: str = Field(default="http://127.0.0.1:3000", description="Grafana's root URL (--url)")
    token: SecretStr | None = Field(default=None, description="a service-account token, role Admin (--token)")
    org_id: int | None = Field(default=None, ge=1, description="the organisation to push to (--org-id)")
    timeout_s: float = Field(default=10.0, gt=0, description="longest wait for one Grafana answer")
    influx_url: str = Field(default="http://127.0.0.1:8086", description="InfluxDB as Grafana reaches it")
    influx_database: str = Field(default="city", description="the platform's database")
    influx_user: str = Field(default="", description="a read-only InfluxDB 1.x user (empty: no authentication)")
    influx_password: SecretStr = Field(default=SecretStr(""), description="its password")
    prometheus_url: str = Field(default="http://127.0.0.1:9090", description="Prometheus as Grafana reaches it")

    @field_validator("url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        if not re.fullmatch(r"https?://[^/\s:]+(:\d+)?(/\S*)?", value):
            raise ValueError("must be Grafana's root URL, http://host:port/ or https://host/path/")
        return value

    def environment(self) -> dict[str, str]:
        """The values of the datasource variables (:data:`grafana_view.datasources.ENVIRONMENT`)."""
        return {
            "SMARTCITY_GRAFANA_INFLUX_URL": self.influx_url,
            "SMARTCITY_GRAFANA_INFLUX_DATABASE": self.influx_database,
            "SMARTCITY_GRAFANA_INFLUX_USER": self.influx_user,
            "SMARTCITY_GRAFANA_INFLUX_PASSWORD": self.influx_password.get_secret_value(),
            "SMARTCITY_GRAFANA_PROMETHEUS_URL": self.prometheus_url,
        }


@dataclass(frozen=True, slots=True)
class Bundle:
    """Everything one push uploads, as the HTTP API takes it."""

    datasources: list[Json]
    folder_uid: str
    folder_title: str
    dashboards: list[Json]
    rules: list[Json]


def city_folder_uid(city: City) -> str:
    """``smartcity-<the city's name as a slug>`` (at most 40 characters, Grafana's limit)."""
    slug = re.sub(r"[^a-z0-9]+", "-", city.name.lower()).strip("-") or "city"
    return f"{FOLDER_UID}-{slug}"[:40].rstrip("-")


def bundle(city: City, settings: PushSettings) -> Bundle:
    boards = dashboards(city)
    folder_uid = city_folder_uid(city)
    return Bundle(
        datasources=datasource_payloads(settings.environment()),
        folder_uid=folder_uid,
        folder_title=f"{FOLDER}: {city.name}",
        dashboards=[json.loads(json.dumps(board, cls=JSONEncoder)) for board in boards],
        rules=[api_json(rule) for rule in alert_rules(city, boards, folder_uid)],
    )


class Action(StrEnum):
    CREATED = "created"
    UPDATED = "updated"
    UNCHANGED = "unchanged"
    DELETED = "deleted"


@dataclass(frozen=True, slots=True)
class Change:
    kind: str
    name: str
    action: Action


def contains(stored: object, desired: object) -> bool:
    """Whether ``stored`` holds everything of ``desired``: every key of a mapping (more are allowed), lists item
    by item at the same length, other values equal."""
    if isinstance(desired, dict):
        return isinstance(stored, dict) and all(
            key in stored and contains(stored[key], v) for key, v in desired.items()
        )
    if isinstance(desired, list):
        return isinstance(stored, list) and len(stored) == len(desired) and all(map(contains, stored, desired))
    return stored == desired


def check_version(health: Json) -> str:
    """Grafana's version from ``/api/health``, or :class:`GrafanaTooOld`."""
    version = str(health.get("version", ""))
    match = re.match(r"v?(\d+)\.(\d+)", version)
    if match is None:
        raise NotGrafana(f"/api/health reports version {version!r}, not a Grafana version")
    if int(match.group(1)) < MIN_MAJOR:
        raise GrafanaTooOld(
            f"Grafana {version} is too old: the dashboards (schema version 41) need Grafana {MIN_MAJOR} or later"
        )
    if health.get("database") != "ok":
        raise GrafanaRefused(f"Grafana {version} reports its database as {health.get('database')!r}")
    return version


def push(grafana: GrafanaConnection, what: Bundle) -> list[Change]:
    """Upload ``what``; one :class:`Change` per object, in the order they were handled."""
    check_version(grafana.health())
    changes = [_datasource(grafana, source) for source in what.datasources]
    changes.append(_folder(grafana, what))
    changes += [_dashboard(grafana, board, what.folder_uid) for board in what.dashboards]
    changes += [_rule(grafana, rule) for rule in what.rules]
    return changes + _group(grafana, what)


def _datasource(grafana: GrafanaConnection, body: Json) -> Change:
    uid, name = body["uid"], body["name"]
    stored = grafana.datasource(uid)
    if stored is None:
        grafana.create_datasource(body)
        return Change("datasource", name, Action.CREATED)
    if stored.get("readOnly"):
        raise GrafanaRefused(f"datasource {uid} is provisioned from files on this Grafana: push or files, not both")
    public = {key: value for key, value in body.items() if key != "secureJsonData"}
    secrets = stored.get("secureJsonFields") or {}
    if contains(stored, public) and all(secrets.get(key) for key in body.get("secureJsonData", {})):
        return Change("datasource", name, Action.UNCHANGED)
    grafana.update_datasource(uid, body)
    return Change("datasource", name, Action.UPDATED)


def _folder(grafana: GrafanaConnection, what: Bundle) -> Change:
    stored = grafana.folder(what.folder_uid)
    if stored is None:
        grafana.create_folder(what.folder_uid, what.folder_title)
        return Change("folder", what.folder_title, Action.CREATED)
    if stored.get("title") == what.folder_title:
        return Change("folder", what.folder_title, Action.UNCHANGED)
    grafana.update_folder(what.folder_uid, what.folder_title, int(stored.get("version", 0)))
    return Change("folder", what.folder_title, Action.UPDATED)


def _dashboard(grafana: GrafanaConnection, board: Json, folder_uid: str) -> Change:
    uid, title = board["uid"], board["title"]
    body = {"dashboard": board, "folderUid": folder_uid, "overwrite": True, "message": MESSAGE}
    stored = grafana.dashboard(uid)
    if stored is None:
        grafana.save_dashboard(body)
        return Change("dashboard", title, Action.CREATED)
    meta: dict[str, Any] = stored.get("meta") or {}
    if meta.get("provisioned"):
        raise GrafanaRefused(f"dashboard {uid} is provisioned from files on this Grafana: push or files, not both")
    where = str(meta.get("folderUid") or "")
    if where != folder_uid and where.startswith(f"{FOLDER_UID}-"):
        raise GrafanaRefused(
            f"dashboard {uid} is in folder {where}, another city's: push each city to its own organisation (--org-id)"
        )
    if where == folder_uid and contains(stored.get("dashboard"), board):
        return Change("dashboard", title, Action.UNCHANGED)
    grafana.save_dashboard(body)
    return Change("dashboard", title, Action.UPDATED)


def _rule(grafana: GrafanaConnection, rule: Json) -> Change:
    stored = grafana.alert_rule(rule["uid"])
    if stored is None:
        grafana.create_alert_rule(rule)
        return Change("alert rule", rule["title"], Action.CREATED)
    if contains(stored, rule):
        return Change("alert rule", rule["title"], Action.UNCHANGED)
    grafana.update_alert_rule(rule["uid"], rule)
    return Change("alert rule", rule["title"], Action.UPDATED)


def _group(grafana: GrafanaConnection, what: Bundle) -> list[Change]:
    stored = grafana.rule_group(what.folder_uid, GROUP)
    if stored is None:
        raise GrafanaRefused(f"rule group {GROUP} is missing from folder {what.folder_uid} after its rules were saved")
    ours = {rule["uid"] for rule in what.rules}
    changes = []
    for rule in stored.get("rules") or []:
        if rule.get("uid") not in ours:
            grafana.delete_alert_rule(rule["uid"])
            changes.append(Change("alert rule", str(rule.get("title")), Action.DELETED))
    if stored.get("interval") == INTERVAL_S:
        return [*changes, Change("rule group", GROUP, Action.UNCHANGED)]
    body = {"title": GROUP, "folderUid": what.folder_uid, "interval": INTERVAL_S, "rules": what.rules}
    grafana.update_rule_group(what.folder_uid, GROUP, body)
    return [*changes, Change("rule group", GROUP, Action.UPDATED)]
