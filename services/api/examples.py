"""One example answer per JSON route, for the OpenAPI document (``app._openapi`` puts each under its route's
success response). Ids and values belong to one small imagined city, so the examples read as one story.
``tests/unit/test_api_openapi.py`` validates every example against its route's response model and fails when a
JSON route has none."""

from __future__ import annotations

from typing import Any

from services.api.indicators.models import VALUES_EXAMPLE
from services.api.routes.decommission import EXAMPLE as _DECOMMISSION
from services.api.routes.grants import EXAMPLE as _GRANT

_POINT = {"lat": 52.5186, "lon": 13.4081}
_DISTRICT = {
    "id": "altstadt",
    "name": "Altstadt",
    "population": 41200,
    "centre": _POINT,
    "bbox": {"min_lat": 52.505, "min_lon": 13.39, "max_lat": 52.53, "max_lon": 13.43},
    "polygon": [
        {"lat": 52.505, "lon": 13.39},
        {"lat": 52.505, "lon": 13.43},
        {"lat": 52.53, "lon": 13.43},
        {"lat": 52.53, "lon": 13.39},
        {"lat": 52.505, "lon": 13.39},
    ],
    "facilities": 312,
    "devices": 1048,
    "prefix": "fd5b:e7c1:a000:1::/64",
}
_FACILITY = {
    "id": "sch-0001",
    "kind": "school",
    "name": "Altstadt Primary School",
    "district_id": "altstadt",
    "location": _POINT,
    "capacity": 420,
    "capacity_unit": "pupils",
    "floor_area_m2": 5200.0,
    "devices": 6,
    "distance_m": None,
}
_DEVICE = {
    "id": "aq-000001",
    "type": "air_quality",
    "network": "broadband",
    "facility_id": "sch-0001",
    "district_id": "altstadt",
    "location": _POINT,
    "metrics": ["pm25", "pm10", "no2", "o3", "battery", "rssi", "report_interval"],
    "ipv6": "fd5b:e7c1:a000:1::1000",
    "firmware": "2.4.1",
    "radio": None,
    "report_interval_s": 60,
    "online": True,
    "last_seen": "2025-04-14T08:00:01.250Z",
    "gaps": 3,
    "loss": 0.0004,
}
_METRIC = {
    "name": "pm25",
    "unit": "ug/m3",
    "kind": "float",
    "minimum": 0.0,
    "maximum": 1000.0,
    "description": "fine particulate matter (PM2.5) mass concentration",
    "device_types": ["air_quality"],
    "aggregations": ["mean", "min", "max", "sum", "count", "p95"],
}
_HEALTH = {
    "device": "aq-000001",
    "online": True,
    "last_seen": "2025-04-14T08:00:01.250Z",
    "readings": 7841,
    "gaps": 3,
    "loss": 0.0004,
    "duplicates": 12,
    "first_seq": 0,
    "last_seq": 7843,
    "restarts": 1,
    "clock_offset_ms": 140,
    "replicas": ["smartcity-gateway-gw-0-4be1a2", "smartcity-gateway-gw-1-09c3f7"],
}
_COMMAND = {
    "id": "3f2a9c0d11e45b60",
    "device": "sl-000017",
    "name": "dim",
    "args": {"level": 40},
    "state": "acked",
    "detail": "",
    "sent_by": "4be1a2c3d4e5",
    "sent": "2025-04-14T20:15:00.000Z",
    "expires": "2025-04-14T21:15:00.000Z",
    "updated": "2025-04-14T20:15:02.310Z",
    "answered": "2025-04-14T20:15:02.310Z",
    "device_time": "2025-04-14T20:15:02.120Z",
}
_KEY = {
    "key_id": "4be1a2c3d4e5",
    "role": "planner",
    "districts": ["altstadt"],
    "name": "energy team dashboard",
    "created": "2025-04-01T09:30:00.000Z",
    "revoked": None,
}
_INDICATOR = {
    "name": "pm25_hours_above_who",
    "description": "Hours in which the mean PM2.5 concentration of the group's sensors was above the WHO 24-h "
    "guideline value",
    "unit": "h",
    "formula": "count of hours w with sum(pm25_sum) / sum(pm25_count) > 15 over the group's hourly roll-ups",
    "method": "hours_above",
    "source": "rp_1h",
    "metrics": ["pm25"],
    "facility_kinds": ["school", "street_segment"],
    "threshold": 15.0,
    "night_only": False,
    "max_days": 93,
}


def _page(item: dict[str, Any]) -> dict[str, Any]:
    return {"items": [item], "next_cursor": "eyJrIjoiYWx0c3RhZHQifQ"}


EXAMPLES: dict[tuple[str, str], Any] = {
    ("get", "/healthz"): {"status": "ok"},
    ("get", "/readyz"): {"influxdb": "ok", "latest_cache": "ok: refreshed 2 s ago", "latest_values": 14512},
    ("get", "/v1/districts"): _page(_DISTRICT),
    ("get", "/v1/districts/{district_id}"): _DISTRICT,
    ("get", "/v1/facilities"): _page(_FACILITY),
    ("get", "/v1/facilities/{facility_id}"): _FACILITY,
    ("get", "/v1/metrics"): _page(_METRIC),
    ("get", "/v1/metrics/{name}"): _METRIC,
    ("get", "/v1/devices"): _page(_DEVICE),
    ("get", "/v1/devices/{device_id}"): _DEVICE,
    ("get", "/v1/devices/{device_id}/health"): _HEALTH,
    ("get", "/v1/health/devices"): _page(_HEALTH),
    ("get", "/v1/latest"): {
        "as_of": "2025-04-14T08:00:05.000Z",
        "items": [
            {"device": "aq-000001", "metric": "pm25", "value": 11.4, "unit": "ug/m3", "time": "2025-04-14T08:00:01Z"},
            {"device": "aq-000001", "metric": "no2", "value": 23.9, "unit": "ug/m3", "time": "2025-04-14T08:00:01Z"},
        ],
    },
    ("get", "/v1/history"): {
        "metric": "pm25",
        "unit": "ug/m3",
        "scope": "district",
        "id": "altstadt",
        "resolution": "1h",
        "agg": "mean",
        "start": "2025-04-14T00:00:00.000Z",
        "end": "2025-04-14T03:00:00.000Z",
        "points": [
            {"time": "2025-04-14T00:00:00.000Z", "value": 9.8, "device": None},
            {"time": "2025-04-14T01:00:00.000Z", "value": 8.7, "device": None},
            {"time": "2025-04-14T02:00:00.000Z", "value": 8.1, "device": None},
        ],
    },
    ("get", "/v1/indicators"): {"items": [_INDICATOR]},
    ("get", "/v1/indicators/{name}"): VALUES_EXAMPLE,
    ("get", "/v1/quality"): _page(
        {
            "device": "aq-000001",
            "device_type": "air_quality",
            "district": "altstadt",
            "facility": "sch-0001",
            "kind": "stuck",
            "metric": "no2",
            "reason": "no2 held 31.4 for 6 h (72 readings)",
            "score": 2.0,
            "start": "2025-04-14T02:00:00.000Z",
            "end": "2025-04-14T08:00:00.000Z",
            "detected": "2025-04-14T05:00:00.000Z",
        }
    ),
    ("post", "/v1/devices/{device_id}/commands"): _COMMAND | {"state": "sent", "answered": None, "device_time": None},
    ("get", "/v1/devices/{device_id}/commands"): _page(_COMMAND),
    ("get", "/v1/commands/{command_id}"): _COMMAND,
    ("get", "/v1/keys"): [_KEY],
    ("post", "/v1/keys"): _KEY | {"key": "sck_4be1a2c3d4e5_Yb2m0yq0fJ9mQk3T1c8kWc7v0xq3u1pFz6r9sL2hNdE"},
    ("delete", "/v1/keys/{key_id}"): _KEY | {"revoked": "2025-04-20T16:00:00.000Z"},
    ("get", "/v1/grants"): [_GRANT],
    ("post", "/v1/grants"): _GRANT,
    ("delete", "/v1/grants/{grant_id}"): _GRANT | {"revoked": "2025-04-21T09:12:40.318Z", "state": "revoked"},
    ("delete", "/v1/devices/{device_id}"): _DECOMMISSION,
}
