"""The alerting provisioning API of :class:`tests.support.grafana_standin.GrafanaStandin`: alert rules checked as
Grafana's ``ProvisionedAlertRule`` and stored with what Grafana adds, and their rule groups.

- ``GET``/``PUT``/``DELETE /api/v1/provisioning/alert-rules/<uid>``, ``POST /api/v1/provisioning/alert-rules``
  (201): the required fields, an existing folder, the condition among the refIds (each once), every query's
  datasource known (or ``__expr__``) and a model; stored with ``id``, ``provenance: api``, ``isPaused``, empty
  ``labels``/``annotations`` when none were sent, each query model's ``intervalMs``/``maxDataPoints`` defaults
  and ``for`` as Prometheus writes durations (``300s`` reads back as ``5m``). A rule in a new group makes the
  group, at the server's default interval.
- ``GET``/``PUT /api/v1/provisioning/folder/<uid>/rule-groups/<group>``: ``{"title", "folderUid", "interval"
  (seconds), "rules"}``; a PUT makes the group hold exactly the rules it names.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Callable, Iterator
from typing import Any

Json = dict[str, Any]
Answer = tuple[int, Any]
REQUIRED = ("title", "condition", "data", "execErrState", "folderUID", "for", "noDataState", "orgID", "ruleGroup")
_UNITS = (("y", 31_536_000_000), ("w", 604_800_000), ("d", 86_400_000), ("h", 3_600_000), ("m", 60_000), ("s", 1_000))
MODEL_DEFAULTS = {"intervalMs": 1000, "maxDataPoints": 43200}


def prometheus_duration(text: str) -> str:
    """A duration as Prometheus' ``model.Duration`` writes it (``300s`` -> ``5m``, ``90s`` -> ``1m30s``)."""
    parts = re.findall(r"(\d+)(ms|y|w|d|h|m|s)", text)
    if not parts or "".join(n + u for n, u in parts) != text:
        raise ValueError(f"not a duration: {text!r}")
    sizes = dict(_UNITS) | {"ms": 1}
    ms = sum(int(n) * sizes[u] for n, u in parts)
    out = ""
    for unit, size in (*_UNITS, ("ms", 1)):
        if ms >= size:
            out, ms = out + f"{ms // size}{unit}", ms % size
    return out or "0s"


class RuleStore:
    """Rules by uid and group intervals; ``folders`` and ``datasources`` are the stand-in's (what exists)."""

    def __init__(self, folders: Json, datasources: Json, ids: Iterator[int], default_interval_s: int) -> None:
        self.folders, self.datasources, self._ids = folders, datasources, ids
        self.default_interval_s = default_interval_s
        self.rules: dict[str, Json] = {}
        self.intervals: dict[tuple[str, str], int] = {}

    def routes(self) -> list[tuple[str, Callable[..., Answer]]]:
        rules, groups = "/api/v1/provisioning/alert-rules", r"/api/v1/provisioning/folder/([\w-]+)/rule-groups/([\w-]+)"
        return [
            (rf"GET {rules}/([\w-]+)", self._get),
            (rf"POST {rules}", lambda body: self.save(body, None)),
            (rf"PUT {rules}/([\w-]+)", self.save),
            (rf"DELETE {rules}/([\w-]+)", self._delete),
            (rf"GET {groups}", self._get_group),
            (rf"PUT {groups}", self._put_group),
        ]

    def _get(self, _body: Any, uid: str) -> Answer:
        rule = self.rules.get(uid)
        return (200, copy.deepcopy(rule)) if rule is not None else (404, {"message": "rule not found"})

    def problem(self, rule: Json) -> str | None:
        missing = [key for key in REQUIRED if key not in rule or rule[key] in ("", None, [])]
        if missing:
            return f"invalid alert rule: missing {missing}"
        if rule["folderUID"] not in self.folders:
            return f"folder {rule['folderUID']} does not exist"
        refs = [query.get("refId") for query in rule["data"]]
        if rule["condition"] not in refs or len(set(refs)) != len(refs):
            return f"condition {rule['condition']} is not one of the refIds {refs}"
        for query in rule["data"]:
            uid = query.get("datasourceUid")
            if uid != "__expr__" and uid not in self.datasources:
                return f"failed to build query {query.get('refId')}: data source not found: {uid}"
            if not isinstance(query.get("model"), dict):
                return f"query {query.get('refId')} has no model"
        return None

    def save(self, body: Json, uid: str | None) -> Answer:
        """POST (``uid`` None) or PUT of one rule."""
        if uid is None and body.get("uid") in self.rules:
            return 409, {"message": "a rule with this UID already exists"}
        if uid is not None and uid not in self.rules:
            return 404, {"message": "rule not found"}
        try:
            rule = copy.deepcopy(body) | {"for": prometheus_duration(str(body.get("for", "")))}
        except ValueError as exc:
            return 400, {"message": str(exc)}
        problem = self.problem(rule)
        if problem:
            return 400, {"message": problem}
        for query in rule["data"]:
            query["model"] = MODEL_DEFAULTS | query["model"]
            query.setdefault("relativeTimeRange", {"from": 0, "to": 0})
        uid = uid or rule.get("uid") or f"r{next(self._ids)}"
        known = self.rules.get(uid)
        stored: Json = {"annotations": {}, "labels": {}, "isPaused": False} | rule
        stored |= {"id": known["id"] if known else next(self._ids), "uid": uid, "provenance": "api"}
        self.rules[uid] = stored
        self.intervals.setdefault((stored["folderUID"], stored["ruleGroup"]), self.default_interval_s)
        return (200 if known else 201), stored

    def _delete(self, _body: Any, uid: str) -> Answer:
        self.rules.pop(uid, None)
        return 204, None

    def _group_rules(self, folder: str, group: str) -> list[Json]:
        return [rule for rule in self.rules.values() if (rule["folderUID"], rule["ruleGroup"]) == (folder, group)]

    def _get_group(self, _body: Any, folder: str, group: str) -> Answer:
        rules = self._group_rules(folder, group)
        if not rules:
            return 404, {"message": "rule group not found"}
        interval = self.intervals[folder, group]
        return 200, {"title": group, "folderUid": folder, "interval": interval, "rules": copy.deepcopy(rules)}

    def _put_group(self, body: Json, folder: str, group: str) -> Answer:
        if not isinstance(body.get("interval"), int) or body["interval"] <= 0 or body.get("title") != group:
            return 400, {"message": "invalid rule group: its title and a positive interval (seconds) are required"}
        named = [rule | {"folderUID": folder, "ruleGroup": group} for rule in body.get("rules") or []]
        problems = [problem for problem in map(self.problem, named) if problem]
        if problems:
            return 400, {"message": problems[0]}
        keep = {rule.get("uid") for rule in named}
        for rule in self._group_rules(folder, group):
            if rule["uid"] not in keep:
                del self.rules[rule["uid"]]
        for rule in named:
            self.save(rule, rule["uid"] if rule.get("uid") in self.rules else None)
        self.intervals[folder, group] = body["interval"]
        return self._get_group(None, folder, group)
