"""The Grafana view of the platform, as code: dashboards built with grafana-foundation-sdk from the city model and
the metric registry, the district maps, and the provisioning files that point a Grafana at InfluxDB and
Prometheus (``smartcity grafana build``, docs/GRAFANA.md).

A component like the others: it imports the core (``smartcity``) only, never the gateway, the simulator or the
services; the Prometheus metric names it charts are held to the components' registries by a test.
"""
