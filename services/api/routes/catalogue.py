"""``/v1/districts``, ``/v1/facilities`` and ``/v1/metrics``: the city model and the metric registry."""

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import Response

from services.api.catalogue import CityIndex, facilities_near, in_polygon
from services.api.deps import Caller, CallerDep, StateDep
from services.api.history import aggregations_for
from services.api.keys import Role
from services.api.pagination import conditional, dump, paginate, query_fingerprint
from services.api.problems import invalid, not_found
from services.api.routes.common import CATALOGUE_ERRORS, Cursor, Ident, page, single
from services.api.schemas import DistrictOut, FacilityOut, MetricOut, Page
from services.api.settings import ApiSettings
from smartcity.city.model import District, Facility, FacilityKind, GeoPoint
from smartcity.contract.metrics import METRICS, MetricSpec

GEOJSON = "application/geo+json"
_GEOJSON_SCHEMA = {
    "type": "object",
    "required": ["type", "features"],
    "properties": {
        "type": {"const": "FeatureCollection"},
        "features": {"type": "array", "items": {"type": "object"}},
        "next_cursor": {"type": ["string", "null"]},
    },
}


def district_item(index: CityIndex, district: District, caller: Caller) -> dict[str, Any]:
    item = district.model_dump(mode="json", exclude={"prefix"})
    item["facilities"] = index.facility_count(district.id)
    item["devices"] = len(index.district_devices(district.id))
    if caller.role.may(Role.PLANNER):
        item["prefix"] = str(district.prefix)
    return item


def _feature(item: dict[str, Any]) -> dict[str, Any]:
    ring = [[point["lon"], point["lat"]] for point in item["polygon"]]
    properties = {key: value for key, value in item.items() if key not in ("polygon", "bbox")}
    return {
        "type": "Feature",
        "id": item["id"],
        "geometry": {"type": "Polygon", "coordinates": [ring]},
        "properties": properties,
    }


def facility_item(index: CityIndex, facility: Facility, distance: float | None = None) -> dict[str, Any]:
    item = facility.model_dump(mode="json")
    item["devices"] = len(index.facility_devices(facility.id))
    if distance is not None:
        item["distance_m"] = round(distance, 1)
    return item


def metric_item(index: CityIndex, spec: MetricSpec) -> dict[str, Any]:
    return {
        "name": spec.name,
        "unit": spec.unit,
        "kind": spec.kind.value,
        "minimum": spec.minimum,
        "maximum": spec.maximum,
        "description": spec.description,
        "device_types": index.device_types_of_metric[spec.name],
        "aggregations": [agg.value for agg in aggregations_for(spec)],
    }


def _parse_near(near: str) -> GeoPoint:
    try:
        lat_text, lon_text = near.split(",")
        lat, lon = float(lat_text), float(lon_text)
    except ValueError:
        raise invalid("query.near", "expected 'lat,lon' in decimal degrees, e.g. 50.94,6.96") from None
    if not (-90 <= lat <= 90 and -180 <= lon <= 180):
        raise invalid("query.near", "coordinates out of range: lat must be in [-90, 90], lon in [-180, 180]")
    return GeoPoint(lat=lat, lon=lon)


def visible_district(index: CityIndex, caller: Caller, district_id: str) -> District:
    district = index.districts.get(district_id)
    if district is None or not caller.sees(district_id):
        raise not_found("district", district_id)
    return district


def router(settings: ApiSettings) -> APIRouter:
    api = APIRouter(prefix="/v1", tags=["catalogue"], responses=CATALOGUE_ERRORS)
    Limit = Annotated[
        int,
        Query(
            ge=1,
            le=settings.max_page_limit,
            description=f"items per page (at most {settings.max_page_limit})",
            examples=[50],
        ),
    ]

    @api.get(
        "/districts",
        response_model=Page[DistrictOut],
        responses={200: {"content": {GEOJSON: {"schema": _GEOJSON_SCHEMA}}}, 304: {"description": "not modified"}},
    )
    async def districts(
        request: Request,
        state: StateDep,
        caller: CallerDep,
        format: Annotated[Literal["json", "geojson"], Query(description="geojson: a FeatureCollection")] = "json",
        limit: Limit = settings.page_limit,
        cursor: Cursor = None,
    ) -> Response:
        """The districts with their geometry (centre, bounding box, polygon) and how many facilities and devices
        each holds. `format=geojson` gives the same page as a GeoJSON FeatureCollection (lon/lat order)."""
        index = state.index
        visible = [d for d in index.districts.values() if caller.sees(d.id)]
        if format == "json":
            return page(
                request,
                visible,
                lambda d: district_item(index, d, caller),
                limit=limit,
                cursor=cursor,
                city=index.fingerprint,
                filters={"r": caller.role},
            )
        fingerprint = query_fingerprint(index.fingerprint, r=caller.role)
        chosen, next_cursor = paginate(visible, limit=limit, cursor=cursor, fingerprint=fingerprint)
        features = [_feature(district_item(index, d, caller)) for d in chosen]
        body = {"type": "FeatureCollection", "features": features, "next_cursor": next_cursor}
        return conditional(request, dump(body), media_type=GEOJSON)

    @api.get("/districts/{district_id}", response_model=DistrictOut, responses={304: {"description": "not modified"}})
    async def district(
        request: Request,
        state: StateDep,
        caller: CallerDep,
        district_id: Annotated[str, Path(max_length=200, examples=["altstadt"])],
    ) -> Response:
        """One district."""
        return single(request, district_item(state.index, visible_district(state.index, caller, district_id), caller))

    @api.get("/facilities", response_model=Page[FacilityOut], responses={304: {"description": "not modified"}})
    async def facilities(
        request: Request,
        state: StateDep,
        caller: CallerDep,
        kind: FacilityKind | None = None,
        district: Annotated[
            Ident | None, Query(description="facilities assigned to this district", examples=["altstadt"])
        ] = None,
        within: Annotated[
            Ident | None,
            Query(description="facilities whose location lies inside this district's polygon", examples=["altstadt"]),
        ] = None,
        near: Annotated[
            str | None,
            Query(
                max_length=100,
                description="`lat,lon`: facilities within radius_m, nearest first",
                examples=["50.94,6.96"],
            ),
        ] = None,
        radius_m: Annotated[
            float, Query(gt=0, le=100_000, description="radius around `near` in metres", examples=[500.0])
        ] = 1000.0,
        limit: Limit = settings.page_limit,
        cursor: Cursor = None,
    ) -> Response:
        """Facilities (schools, hospitals, street segments, ...), filtered by kind, district, a polygon
        (`within`) or a circle (`near` + `radius_m`, sorted by distance)."""
        index = state.index
        chosen = [f for f in index.facilities.values() if caller.sees(f.district_id)]
        if kind is not None:
            chosen = [f for f in chosen if f.kind is kind]
        if district is not None:
            visible_district(index, caller, district)
            chosen = [f for f in chosen if f.district_id == district]
        if within is not None:
            shape = visible_district(index, caller, within)
            chosen = [f for f in chosen if in_polygon(shape, f.location)]
        found: list[tuple[Facility, float | None]]
        if near is not None:
            found = list(facilities_near(chosen, _parse_near(near), radius_m))
        else:
            found = [(f, None) for f in chosen]
        filters = {"k": kind, "d": district, "w": within, "n": near, "r": radius_m if near else None}
        return page(
            request,
            found,
            lambda pair: facility_item(index, *pair),
            limit=limit,
            cursor=cursor,
            city=index.fingerprint,
            filters=filters,
        )

    @api.get("/facilities/{facility_id}", response_model=FacilityOut, responses={304: {"description": "not modified"}})
    async def facility(
        request: Request,
        state: StateDep,
        caller: CallerDep,
        facility_id: Annotated[str, Path(max_length=200, examples=["sch-0001"])],
    ) -> Response:
        """One facility."""
        found = state.index.facilities.get(facility_id)
        if found is None or not caller.sees(found.district_id):
            raise not_found("facility", facility_id)
        return single(request, facility_item(state.index, found))

    @api.get("/metrics", response_model=Page[MetricOut], responses={304: {"description": "not modified"}})
    async def metrics(
        request: Request, state: StateDep, caller: CallerDep, limit: Limit = settings.page_limit, cursor: Cursor = None
    ) -> Response:
        """The metric registry: unit, type, accepted range, the device types that report each metric and the
        aggregations history offers for it."""
        specs = list(METRICS.values())
        render = lambda spec: metric_item(state.index, spec)  # noqa: E731
        return page(request, specs, render, limit=limit, cursor=cursor, city=state.index.fingerprint, filters={})

    @api.get("/metrics/{name}", response_model=MetricOut, responses={304: {"description": "not modified"}})
    async def metric(
        request: Request,
        state: StateDep,
        caller: CallerDep,
        name: Annotated[str, Path(max_length=200, examples=["pm25"])],
    ) -> Response:
        """One metric."""
        spec = METRICS.get(name)
        if spec is None:
            raise not_found("metric", name)
        return single(request, metric_item(state.index, spec))

    return api
