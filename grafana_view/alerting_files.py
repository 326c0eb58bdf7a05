"""Grafana's alerting provisioning files (``apiVersion: 1``): the rule group, and a contact point with a
notification policy as an example.

The rules are :func:`grafana_view.alerts.rules` rewritten into the file format Grafana documents
(docs/GRAFANA.md, "Alert rules"): a group names its folder by title and its interval as a duration, a rule
carries no folder, group or organisation of its own, and its panel link is ``dashboardUid`` and ``panelId``
instead of the API's ``__dashboardUid__`` and ``__panelId__`` annotations.

Grafana expands ``$VAR`` and ``${VAR}`` from its environment in these files (a rule's query model is read raw,
annotations expand only ``${VAR}``), so no title or label holds a ``$``, and the webhook's URL comes from
:data:`WEBHOOK_VARIABLE`.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from grafana_foundation_sdk.builders import alerting
from grafana_foundation_sdk.cog.encoder import JSONEncoder

from grafana_view.alerts import GROUP, INTERVAL_S, PLATFORM_LABEL

CONTACT_POINT = "Smart city operators"
WEBHOOK_VARIABLE = "SMARTCITY_ALERT_WEBHOOK_URL"
"""The webhook the example contact point posts to, from the Grafana server's environment."""
_FILE_KEYS = ("uid", "title", "condition", "data", "noDataState", "execErrState", "for", "annotations", "labels")


def api_json(rule: alerting.Rule) -> dict[str, Any]:
    """A rule as the provisioning API's JSON (plain dicts and lists)."""
    document: dict[str, Any] = json.loads(json.dumps(rule.build(), cls=JSONEncoder))
    return document


def _file_rule(rule: dict[str, Any]) -> dict[str, Any]:
    annotations = dict(rule.get("annotations") or {})
    dashboard = annotations.pop("__dashboardUid__", None)
    panel = annotations.pop("__panelId__", None)
    out = {key: rule[key] for key in _FILE_KEYS[:4]}
    if dashboard is not None and panel is not None:
        out |= {"dashboardUid": dashboard, "panelId": int(panel)}
    out |= {key: rule[key] for key in _FILE_KEYS[4:7]}
    return out | {"annotations": annotations, "labels": rule.get("labels") or {}}


def rules_file(rules: Sequence[alerting.Rule], folder: str) -> dict[str, object]:
    """``provisioning/alerting/smartcity-rules.yaml``: the rule group in the folder titled ``folder`` (the
    dashboard provider's)."""
    group = {
        "orgId": 1,
        "name": GROUP,
        "folder": folder,
        "interval": f"{INTERVAL_S // 60}m" if INTERVAL_S % 60 == 0 else f"{INTERVAL_S}s",
        "rules": [_file_rule(api_json(rule)) for rule in rules],
    }
    return {"apiVersion": 1, "groups": [group]}


def notifications_file() -> dict[str, object]:
    """``examples/alerting/smartcity-notifications.yaml``: a webhook contact point and a policy tree that sends
    the platform's alerts there, grouped by rule and district (or gateway instance).

    A ``policies`` file replaces the organisation's whole notification policy tree, which is why this one is an
    example outside ``provisioning/`` (docs/GRAFANA.md says when to copy it)."""
    matcher = [[name, "=", value] for name, value in PLATFORM_LABEL.items()]
    return {
        "apiVersion": 1,
        "contactPoints": [
            {
                "orgId": 1,
                "name": CONTACT_POINT,
                "receivers": [
                    {
                        "uid": "smartcity-operators-webhook",
                        "type": "webhook",
                        "settings": {"url": f"${{{WEBHOOK_VARIABLE}}}", "httpMethod": "POST"},
                        "disableResolveMessage": False,
                    }
                ],
            }
        ],
        "policies": [
            {
                "orgId": 1,
                "receiver": CONTACT_POINT,
                "group_by": ["grafana_folder", "alertname"],
                "routes": [
                    {
                        "receiver": CONTACT_POINT,
                        "object_matchers": matcher,
                        "group_by": ["alertname", "district", "instance"],
                        "group_wait": "30s",
                        "group_interval": "5m",
                        "repeat_interval": "4h",
                    }
                ],
            }
        ],
    }
