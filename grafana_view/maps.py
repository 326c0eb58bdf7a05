"""The static map files the Geomap panels load, generated from the city model.

- ``districts.geojson``: the district outlines, the same FeatureCollection the planning API serves at
  ``/v1/districts?format=geojson`` to a viewer (``[lon, lat]`` rings, the district's fields and its facility and
  device counts as properties). Grafana draws it as a static GeoJSON layer and styles it by those properties.
- ``district-centres.geojson`` and ``facilities.geojson``: point gazetteers keyed by ``id``. A marker layer in
  ``lookup`` mode places each row of a query grouped by ``district`` or ``facility`` at its point, so an InfluxQL
  answer needs no coordinates; the facility points also carry kind, district and capacity.

Grafana serves them from its static directory: copy them to ``<grafana>/public/maps/smartcity/`` (docs/GRAFANA.md).
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from smartcity.city.model import City, GeoPoint

PUBLIC_PATH = "public/maps/smartcity"
"""Where the panels load the files from (relative to Grafana's root URL)."""
DISTRICTS = "districts.geojson"
DISTRICT_CENTRES = "district-centres.geojson"
FACILITIES = "facilities.geojson"


def public_url(name: str) -> str:
    return f"{PUBLIC_PATH}/{name}"


def _collection(features: list[dict[str, Any]]) -> dict[str, Any]:
    return {"type": "FeatureCollection", "features": features}


def _point(location: GeoPoint) -> dict[str, Any]:
    return {"type": "Point", "coordinates": [location.lon, location.lat]}


def district_outlines(city: City) -> dict[str, Any]:
    """The districts as the API's GeoJSON answer holds them (without its paging cursor)."""
    facilities = Counter(facility.district_id for facility in city.facilities)
    devices = Counter(device.district_id for device in city.devices)
    features = []
    for district in city.districts:
        item = district.model_dump(mode="json", exclude={"prefix"})
        item["facilities"] = facilities[district.id]
        item["devices"] = devices[district.id]
        ring = [[point["lon"], point["lat"]] for point in item["polygon"]]
        properties = {key: value for key, value in item.items() if key not in ("polygon", "bbox")}
        features.append(
            {
                "type": "Feature",
                "id": district.id,
                "geometry": {"type": "Polygon", "coordinates": [ring]},
                "properties": properties,
            }
        )
    return _collection(features)


def district_centres(city: City) -> dict[str, Any]:
    """One point per district at its centre, keyed by the district id (the ``district`` tag)."""
    return _collection(
        [
            {
                "type": "Feature",
                "id": district.id,
                "geometry": _point(district.centre),
                "properties": {"id": district.id, "name": district.name, "population": district.population},
            }
            for district in city.districts
        ]
    )


def facility_points(city: City) -> dict[str, Any]:
    """One point per facility at its location, keyed by the facility id (the ``facility`` tag)."""
    return _collection(
        [
            {
                "type": "Feature",
                "id": facility.id,
                "geometry": _point(facility.location),
                "properties": {
                    "id": facility.id,
                    "name": facility.name,
                    "kind": facility.kind.value,
                    "district": facility.district_id,
                    "capacity": facility.capacity,
                    "capacity_unit": facility.capacity_unit,
                },
            }
            for facility in city.facilities
        ]
    )
