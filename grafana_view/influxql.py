"""A typed raw-InfluxQL target for grafana-foundation-sdk, which ships no InfluxDB query type.

Grafana's InfluxDB datasource in InfluxQL mode stores a raw query as ``{"refId", "query", "rawQuery": true,
"resultFormat"}``: ``time_series`` for a graph (one frame per series), ``table`` for stats, tables and maps (tags
of ``GROUP BY`` become columns). :class:`InfluxQLQuery` is that model on the SDK's ``Dataquery`` interface and
:class:`InfluxQL` its builder, so panels take it like the SDK's own Prometheus target.
"""

from __future__ import annotations

import enum
from typing import Any, Self

from grafana_foundation_sdk.cog import builder as cogbuilder
from grafana_foundation_sdk.cog import runtime as cogruntime
from grafana_foundation_sdk.cog import variants as cogvariants
from grafana_foundation_sdk.models import dashboard

DATASOURCE_TYPE = "influxdb"


class ResultFormat(enum.StrEnum):
    TIME_SERIES = "time_series"
    TABLE = "table"


class InfluxQLQuery(cogvariants.Dataquery):
    """One raw InfluxQL statement of a panel."""

    def __init__(
        self,
        query: str = "",
        ref_id: str = "",
        result_format: ResultFormat = ResultFormat.TIME_SERIES,
        alias: str | None = None,
        datasource: dashboard.DataSourceRef | None = None,
        hide: bool | None = None,
    ) -> None:
        self.query = query
        self.ref_id = ref_id
        self.result_format = result_format
        self.alias = alias
        self.datasource = datasource
        self.hide = hide

    def to_json(self) -> dict[str, object]:
        payload: dict[str, object] = {
            "refId": self.ref_id,
            "query": self.query,
            "rawQuery": True,
            "resultFormat": self.result_format.value,
        }
        if self.alias is not None:
            payload["alias"] = self.alias
        if self.datasource is not None:
            payload["datasource"] = self.datasource
        if self.hide is not None:
            payload["hide"] = self.hide
        return payload

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Self:
        datasource = data.get("datasource")
        return cls(
            query=data.get("query", ""),
            ref_id=data.get("refId", ""),
            result_format=ResultFormat(data.get("resultFormat", ResultFormat.TIME_SERIES.value)),
            alias=data.get("alias"),
            datasource=dashboard.DataSourceRef.from_json(datasource) if isinstance(datasource, dict) else None,
            hide=data.get("hide"),
        )


class InfluxQL(cogbuilder.Builder[InfluxQLQuery]):
    """Builder of :class:`InfluxQLQuery` (``InfluxQL(sql).ref_id("A").table()``)."""

    def __init__(self, query: str) -> None:
        self._internal = InfluxQLQuery(query=query)

    def build(self) -> InfluxQLQuery:
        return self._internal

    def ref_id(self, ref_id: str) -> Self:
        self._internal.ref_id = ref_id
        return self

    def table(self) -> Self:
        self._internal.result_format = ResultFormat.TABLE
        return self

    def time_series(self) -> Self:
        self._internal.result_format = ResultFormat.TIME_SERIES
        return self

    def alias(self, alias: str) -> Self:
        """Series name; ``$tag_district`` and ``$col`` are Grafana's InfluxDB alias patterns."""
        self._internal.alias = alias
        return self

    def datasource(self, datasource: dashboard.DataSourceRef) -> Self:
        self._internal.datasource = datasource
        return self


def variant_config() -> cogruntime.DataqueryConfig:
    """Lets the SDK's ``Dashboard.from_json`` read InfluxDB targets back as :class:`InfluxQLQuery`."""
    return cogruntime.DataqueryConfig(identifier=DATASOURCE_TYPE, from_json_hook=InfluxQLQuery.from_json)


cogruntime.Runtime().register_dataquery_variant(variant_config())
