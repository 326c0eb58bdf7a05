"""The two datasources every dashboard refers to, by fixed uid, and their provisioning file.

Provisioned with these uids, the dashboards work in any Grafana without editing: the InfluxDB datasource speaks
InfluxQL over the v1 API (1.x; 2.x and 3.x serve it too), the Prometheus one reads the scrape config under
deploy/prometheus/. Credentials and URLs come from the environment of the Grafana server (Grafana expands
``${VAR}`` in provisioning files), never from a committed file.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from grafana_foundation_sdk.models.dashboard import DataSourceRef

from grafana_view.influxql import DATASOURCE_TYPE

INFLUX = DataSourceRef(type_val=DATASOURCE_TYPE, uid="smartcity-influxdb")
PROMETHEUS = DataSourceRef(type_val="prometheus", uid="smartcity-prometheus")

ENVIRONMENT = {
    "SMARTCITY_GRAFANA_INFLUX_URL": "InfluxDB HTTP API, e.g. http://127.0.0.1:8086",
    "SMARTCITY_GRAFANA_INFLUX_DATABASE": "the platform's database (default city)",
    "SMARTCITY_GRAFANA_INFLUX_USER": "a read-only InfluxDB 1.x user (empty without authentication)",
    "SMARTCITY_GRAFANA_INFLUX_PASSWORD": "its password",
    "SMARTCITY_GRAFANA_PROMETHEUS_URL": "Prometheus, e.g. http://127.0.0.1:9090",
}
"""What the datasource provisioning file reads from the Grafana server's environment."""


def _datasources(value: Callable[[str], str]) -> list[dict[str, Any]]:
    """Both datasources, each setting that comes from the environment given by ``value(<variable>)``."""
    return [
        {
            "name": "Smart city InfluxDB",
            "uid": INFLUX.uid,
            "type": DATASOURCE_TYPE,
            "access": "proxy",
            "url": value("SMARTCITY_GRAFANA_INFLUX_URL"),
            "user": value("SMARTCITY_GRAFANA_INFLUX_USER"),
            "jsonData": {
                "version": "InfluxQL",
                "dbName": value("SMARTCITY_GRAFANA_INFLUX_DATABASE"),
                "httpMode": "POST",
                "timeInterval": "1m",
            },
            "secureJsonData": {"password": value("SMARTCITY_GRAFANA_INFLUX_PASSWORD")},
        },
        {
            "name": "Smart city Prometheus",
            "uid": PROMETHEUS.uid,
            "type": "prometheus",
            "access": "proxy",
            "url": value("SMARTCITY_GRAFANA_PROMETHEUS_URL"),
            "jsonData": {"httpMethod": "POST", "timeInterval": "15s"},
        },
    ]


def datasources_file() -> dict[str, object]:
    """``provisioning/datasources/smartcity.yaml``: the settings as ``${VAR}``, expanded by Grafana."""
    sources = _datasources(lambda variable: f"${{{variable}}}")
    return {"apiVersion": 1, "datasources": [source | {"editable": False} for source in sources]}


def datasource_payloads(values: Mapping[str, str]) -> list[dict[str, Any]]:
    """The same datasources as the HTTP API takes them, with ``values`` for :data:`ENVIRONMENT`'s variables (an
    empty secret is left out: Grafana keeps a secret it was never sent unset)."""
    sources = _datasources(values.__getitem__)
    for source in sources:
        secrets = {key: secret for key, secret in source.pop("secureJsonData", {}).items() if secret}
        if secrets:
            source["secureJsonData"] = secrets
    return sources


def dashboards_file(folder: str, folder_uid: str, path: str) -> dict[str, object]:
    """``provisioning/dashboards/smartcity.yaml``: load the dashboards JSON from ``path`` into ``folder``."""
    return {
        "apiVersion": 1,
        "providers": [
            {
                "name": "smartcity",
                "orgId": 1,
                "folder": folder,
                "folderUid": folder_uid,
                "type": "file",
                "disableDeletion": False,
                "allowUiUpdates": False,
                "updateIntervalSeconds": 60,
                "options": {"path": path, "foldersFromFilesStructure": False},
            }
        ],
    }


SCRAPE_TARGETS = {
    "smartcity-gateway": "127.0.0.1:9108",
    "smartcity-api": "127.0.0.1:8000",
    "smartcity-rollup": "127.0.0.1:9110",
    "smartcity-quality": "127.0.0.1:9120",
}
"""Each process's ``/metrics`` at its default port (gateway ``HTTP_PORT``, API ``PORT``, the workers' ``HTTP_PORT``)."""


def prometheus_file() -> dict[str, object]:
    """``deploy/prometheus/prometheus.yml``: scrape every platform process every 15 s."""
    return {
        "global": {"scrape_interval": "15s", "evaluation_interval": "15s"},
        "scrape_configs": [
            {"job_name": job, "metrics_path": "/metrics", "static_configs": [{"targets": [target]}]}
            for job, target in SCRAPE_TARGETS.items()
        ],
    }
