"""The areas the catalogue covers, as GeoSPARQL WKT: a district's polygon, bounding box and centre, and the city's
extent (the box around every district). WKT is in longitude, latitude order (WGS 84, the default CRS of
``geo:wktLiteral``)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from rdflib import URIRef

from smartcity.city.model import BBox, City, District, GeoPoint

WKT = URIRef("http://www.opengis.net/ont/geosparql#wktLiteral")


@dataclass(frozen=True, slots=True)
class Extent:
    name: str
    geometry: str
    """WKT polygon of the area."""
    bbox: str
    """WKT polygon of its bounding box."""
    centroid: str
    """WKT point."""


def _point(point: GeoPoint) -> str:
    return f"{point.lon} {point.lat}"


def _polygon(ring: Sequence[GeoPoint]) -> str:
    return "POLYGON((" + ", ".join(_point(p) for p in ring) + "))"


def box_ring(box: BBox) -> list[GeoPoint]:
    """The box as a closed counter-clockwise ring from its south-west corner."""
    corners = [
        (box.min_lat, box.min_lon),
        (box.min_lat, box.max_lon),
        (box.max_lat, box.max_lon),
        (box.max_lat, box.min_lon),
        (box.min_lat, box.min_lon),
    ]
    return [GeoPoint(lat=lat, lon=lon) for lat, lon in corners]


def bounding_box(boxes: Sequence[BBox]) -> BBox:
    return BBox(
        min_lat=min(b.min_lat for b in boxes),
        min_lon=min(b.min_lon for b in boxes),
        max_lat=max(b.max_lat for b in boxes),
        max_lon=max(b.max_lon for b in boxes),
    )


def district_extent(district: District) -> Extent:
    return Extent(
        name=district.name,
        geometry=_polygon(district.polygon),
        bbox=_polygon(box_ring(district.bbox)),
        centroid=f"POINT({_point(district.centre)})",
    )


def city_extent(city: City) -> Extent | None:
    """The box around every district (the city has no outline of its own but its districts'); None without
    districts."""
    if not city.districts:
        return None
    box = bounding_box([d.bbox for d in city.districts])
    ring = _polygon(box_ring(box))
    centre = GeoPoint(lat=(box.min_lat + box.max_lat) / 2, lon=(box.min_lon + box.max_lon) / 2)
    return Extent(name=city.name, geometry=ring, bbox=ring, centroid=f"POINT({_point(centre)})")
