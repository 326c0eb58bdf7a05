"""``/v1/audit``: the audit trail for admins, as JSON pages (newest first) or a CSV export (chain order)."""

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Query
from fastapi.responses import JSONResponse, Response, StreamingResponse
from pydantic import BaseModel, ConfigDict, Field

from services.api.audit import count_rows
from services.api.auditlog import CSV_COLUMNS, AuditFilter, AuditReader, csv_row, csv_text, item
from services.api.deps import Admin, StateDep
from services.api.pagination import decode_cursor, encode_cursor, query_fingerprint
from services.api.problems import ApiProblem, invalid, problem_responses
from services.api.routes.common import Cursor
from services.api.settings import ApiSettings

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class AuditOut(BaseModel):
    model_config = ConfigDict(extra="forbid")

    seq: int = Field(description="the record's place in the hash chain (1, 2, 3 ...)")
    time: datetime = Field(description="when the request arrived")
    key_id: str
    department: str | None = Field(description="the key's department; null: the city's own key")
    method: str
    route: str = Field(description="the route template, `unmatched` for a path no route has")
    params: str = Field(description="path and query parameters as compact JSON")
    rows: int | None = Field(description="rows the answer held, where the route counts them")
    status: int = Field(description="the answer's HTTP status")
    hash: str = Field(description="SHA-256 of the record and the previous record's hash")


class AuditPage(BaseModel):
    model_config = ConfigDict(extra="forbid")

    items: list[AuditOut]
    next_cursor: str | None


EXAMPLE = {
    "items": [
        {
            "seq": 1842,
            "time": "2025-04-20T15:58:02.114Z",
            "key_id": "4be1a2c3d4e5",
            "department": "education",
            "method": "GET",
            "route": "/v1/history",
            "params": '{"facility":"sch-0001","metric":"occupancy"}',
            "rows": 288,
            "status": 200,
            "hash": "9f2c4e0b7d1a6c3e8b5f2a9d4c7e1b0a3f6d9c2e5b8a1f4d7c0e3b6a9f2c5e8b",
        }
    ],
    "next_cursor": "eyJvIjoxODQyLCJxIjoiM2M5ZjFhMmI0ZDZlOGYwYSJ9",
}


def _ms(moment: datetime) -> int:
    moment = moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
    return int((moment - _EPOCH).total_seconds() * 1000)


async def _export(reader: AuditReader, wanted: AuditFilter) -> AsyncIterator[str]:
    yield csv_text([list(CSV_COLUMNS)])
    after = 0
    while records := await asyncio.to_thread(reader.chunks, wanted, after_seq=after):
        yield csv_text([csv_row(record) for record in records])
        after = records[-1].seq


def router(settings: ApiSettings) -> APIRouter:
    api = APIRouter(prefix="/v1", tags=["audit"], responses=problem_responses(401, 403, 422, 429, 503))

    @api.get(
        "/audit",
        response_model=AuditPage,
        responses={
            200: {"content": {"application/json": {"example": EXAMPLE}, "text/csv": {"schema": {"type": "string"}}}}
        },
    )
    async def audit(
        state: StateDep,
        caller: Admin,
        key: Annotated[
            str | None, Query(pattern=r"^[0-9a-f]{12}$", description="only this key id", examples=["4be1a2c3d4e5"])
        ] = None,
        department: Annotated[
            str | None, Query(max_length=64, description="only keys of this department", examples=["education"])
        ] = None,
        route: Annotated[
            str | None, Query(max_length=200, description="only this route template", examples=["/v1/history"])
        ] = None,
        start: Annotated[
            datetime | None,
            Query(description="inclusive, ISO 8601 (UTC when no offset)", examples=["2025-04-20T00:00:00Z"]),
        ] = None,
        end: Annotated[
            datetime | None, Query(description="exclusive, ISO 8601", examples=["2025-04-21T00:00:00Z"])
        ] = None,
        limit: Annotated[
            int | None, Query(ge=1, le=settings.max_page_limit, description="records per page", examples=[100])
        ] = None,
        cursor: Cursor = None,
        format: Annotated[Literal["json", "csv"], Query(description="json pages, or every record as CSV")] = "json",
    ) -> Response:
        """Requests made with keys, newest first: key id, department, method, route template, parameters, arrival
        time, rows returned (where the route counts them), status and the record's chain hash. `format=csv`
        exports every matching record in chain order (oldest first) without pages. An admin key of a department
        sees that department's records only."""
        if caller.department is not None:
            if department is not None and department != caller.department:
                raise ApiProblem(403, "forbidden", "an admin key of a department reads that department's records only")
            department = caller.department
        start_ms = _ms(start) if start is not None else None
        end_ms = _ms(end) if end is not None else None
        if start_ms is not None and end_ms is not None and start_ms >= end_ms:
            raise invalid("query.start", "must be before end")
        wanted = AuditFilter(key, department, route, start_ms, end_ms)
        reader = state.audit.reader
        if format == "csv":
            if limit is not None or cursor is not None:
                raise invalid("query.format", "csv exports every matching record: limit and cursor are for JSON pages")
            return StreamingResponse(_export(reader, wanted), media_type="text/csv")
        fingerprint = query_fingerprint(
            "audit", key=key, department=department, route=route, start=start_ms, end=end_ms
        )
        before = decode_cursor(cursor, fingerprint) if cursor is not None else None
        size = limit or settings.page_limit
        records = await asyncio.to_thread(reader.page, wanted, limit=size + 1, before_seq=before)
        more = len(records) > size
        records = records[:size]
        count_rows(len(records))
        next_cursor = encode_cursor(records[-1].seq, fingerprint) if more else None
        return JSONResponse({"items": [item(record) for record in records], "next_cursor": next_cursor})

    return api
