"""The kustomization beside the generated Grafana files: each group of them becomes one ConfigMap, so Kubernetes
(``deploy/k8s/``) provisions Grafana from exactly the files ``smartcity grafana build`` wrote.

A kustomization may read files only under its own directory, so it lives in ``deploy/grafana/`` and the
Kubernetes base includes that directory as a resource. Names carry no content hash: the Grafana Deployment
mounts them by these names, and Grafana re-reads dashboards from disk every minute.
"""

from __future__ import annotations

from collections.abc import Iterable

CONFIGMAPS = {
    "smartcity-grafana-datasources": "provisioning/datasources/",
    "smartcity-grafana-dashboard-provider": "provisioning/dashboards/",
    "smartcity-grafana-alerting": "provisioning/alerting/",
    "smartcity-grafana-dashboards": "dashboards/",
    "smartcity-grafana-maps": "maps/smartcity/",
}
"""ConfigMap name -> the directory (relative to the output directory) whose files it holds."""


def kustomization(paths: Iterable[str]) -> dict[str, object]:
    """A ``Kustomization`` with one ConfigMap generator per entry of :data:`CONFIGMAPS`, over ``paths``."""
    ordered = sorted(paths)
    generators = [
        {"name": name, "files": [path for path in ordered if path.rpartition("/")[0] + "/" == directory]}
        for name, directory in CONFIGMAPS.items()
    ]
    for generator in generators:
        if not generator["files"]:
            raise ValueError(f"no generated file for ConfigMap {generator['name']}")
    return {
        "apiVersion": "kustomize.config.k8s.io/v1beta1",
        "kind": "Kustomization",
        "generatorOptions": {
            "disableNameSuffixHash": True,
            "labels": {"app.kubernetes.io/part-of": "smartcity", "app.kubernetes.io/component": "grafana"},
        },
        "configMapGenerator": generators,
    }
