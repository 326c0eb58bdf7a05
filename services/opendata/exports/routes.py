"""``GET /v1/open/{dataset}.csv``, ``.geojson`` and ``.senml``: the open datasets as streamed exports, public (no
key; rate-limited like every request without one).

The request is checked whole before anything is read (:mod:`services.opendata.exports.request`); then the first
chunk of rows is read before the answer starts, so an unreachable store is a 503 problem rather than a cut
stream, and the rest is read and sent chunk by chunk (:mod:`services.opendata.exports.reader`). Licence and
provenance travel in the headers of every format and in the GeoJSON document itself
(:mod:`services.opendata.exports.provenance`). docs/OPEN_DATA.md, "Exports", describes the answers.
"""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import Response, StreamingResponse

from services.api.deps import CallerDep, StateDep
from services.api.problems import problem_responses
from services.opendata.datasets import publisher_of
from services.opendata.exports.formats import body, encoder_for
from services.opendata.exports.provenance import Provenance
from services.opendata.exports.reader import read_rows
from services.opendata.exports.releases import read_release_rows, release_request
from services.opendata.exports.request import dataset_of, export_request
from services.opendata.urls import EXPORT_PATH, OpenDataUrls
from services.opendata.vocabularies import ExportFormat

log = logging.getLogger(__name__)

MEDIA_TYPES = {
    ExportFormat.CSV: "text/csv; charset=utf-8; header=present",
    ExportFormat.GEOJSON: ExportFormat.GEOJSON.media_type,
    ExportFormat.SENML: ExportFormat.SENML.media_type,
}
_SCHEMAS: dict[ExportFormat, dict[str, Any]] = {
    ExportFormat.CSV: {"type": "string"},
    ExportFormat.GEOJSON: {"type": "object", "required": ["type", "features"]},
    ExportFormat.SENML: {"type": "array", "items": {"type": "object"}},
}
_HEADERS = {
    "Link": "the licence (rel=license) and the dataset's catalogue entry (rel=describedby)",
    "X-Provenance": "RFC 8941 dictionary: dataset, generated-at, source, privacy, licence, start, end, district",
    "Content-Disposition": "attachment with a file name naming the dataset and period",
}

DatasetParam = Annotated[str, Path(max_length=200, description="an open dataset's id", examples=["noise"])]
StartParam = Annotated[
    datetime | None,
    Query(
        description="inclusive, ISO 8601 (UTC when no offset), aligned down to the dataset's granularity; "
        "default end - 1 day",
        examples=["2025-04-14T00:00:00Z"],
    ),
]
EndParam = Annotated[
    datetime | None,
    Query(
        description="exclusive, ISO 8601, aligned up to the dataset's granularity; default now (hourly data: "
        "the start of the current hour)",
        examples=["2025-04-15T00:00:00Z"],
    ),
]
DistrictParam = Annotated[str | None, Query(max_length=200, description="a district id", examples=["old-town"])]


def _description(export_format: ExportFormat) -> str:
    return (
        f"The dataset as {export_format.label} for `start`..`end`, optionally one district, streamed. Environmental "
        "datasets: every reading of every sensor at its location; infrastructure datasets: per facility and hour "
        "from the hourly roll-ups; person-related datasets: the privacy engine's fixed releases of whole local "
        "days, every cell with its treatment. Licence and provenance in the `Link` and `X-Provenance` headers"
        + (" and the FeatureCollection's `metadata` member" if export_format is ExportFormat.GEOJSON else "")
        + ". No key needed. 404 for an unknown dataset, 422 "
        "for bad dates and for a request beyond the dataset's caps (the problem names the cap). See "
        "docs/OPEN_DATA.md."
    )


def _endpoint(export_format: ExportFormat) -> Callable[..., Awaitable[Response]]:
    async def export(
        request: Request,
        state: StateDep,
        caller: CallerDep,
        dataset: DatasetParam,
        start: StartParam = None,
        end: EndParam = None,
        district: DistrictParam = None,
    ) -> Response:
        now_ms = int(time.time() * 1000)
        definition = dataset_of(dataset)
        index = state.index
        build = release_request if definition.person_related else export_request
        wanted = build(definition, index, start=start, end=end, district=district, now_ms=now_ms)
        department = publisher_of(definition, index.city.departments)
        publisher = ("city", index.city.name) if department is None else (department.id, department.name)
        provenance = Provenance(
            definition,
            now_ms,
            wanted.start_ms,
            wanted.end_ms,
            district,
            OpenDataUrls.under(str(request.base_url)).dataset(definition.id),
            publisher,
            wanted.policy,
        )
        rows = (
            read_rows(state.influx, wanted) if wanted.policy is None else read_release_rows(state.influx, wanted, index)
        )
        first = await anext(rows, None)
        encoder = encoder_for(export_format, wanted.layout, wanted.places, provenance)
        started = time.perf_counter()
        chunks = body(encoder, first, rows)
        return StreamingResponse(
            _logged(chunks, f"{definition.id}.{export_format.value}", started),
            media_type=MEDIA_TYPES[export_format],
            headers=provenance.headers(export_format),
        )

    return export


async def _logged(chunks: AsyncIterator[bytes], name: str, started: float) -> AsyncIterator[bytes]:
    sent = 0
    async for chunk in chunks:
        sent += len(chunk)
        yield chunk
    log.info("export %s: %d bytes in %.2f s", name, sent, time.perf_counter() - started)


def router() -> APIRouter:
    api = APIRouter(prefix="/v1", tags=["catalogue"], responses=problem_responses(401, 404, 422, 429, 503))
    for export_format in ExportFormat:
        answer = {
            "description": f"the export as {export_format.label}",
            "content": {export_format.media_type: {"schema": _SCHEMAS[export_format]}},
            "headers": {name: {"description": text, "schema": {"type": "string"}} for name, text in _HEADERS.items()},
        }
        api.add_api_route(
            EXPORT_PATH.format(dataset="{dataset}", format=export_format.value).removeprefix("/v1"),
            _endpoint(export_format),
            methods=["GET"],
            response_class=Response,
            responses={200: answer},
            name=f"export_{export_format.value}",
            summary=f"Export an open dataset as {export_format.label}",
            description=_description(export_format),
        )
    return api
