"""Template variables, each populated by InfluxQL ``SHOW TAG VALUES`` on the platform's own tags."""

from __future__ import annotations

from grafana_foundation_sdk.builders import dashboard as dash
from grafana_foundation_sdk.models.dashboard import VariableOption, VariableRefresh, VariableSort

from grafana_view.datasources import INFLUX
from grafana_view.queries import VARIABLE_SOURCE, matches


def tag_values(
    name: str, label: str, key: str, *, depends_on: tuple[tuple[str, str], ...] = (), multi: bool = True
) -> dash.QueryVariable:
    """A variable over the values of tag ``key``, narrowed by the (tag, variable) pairs of ``depends_on``.

    ``multi``: several values and "All" (no custom all value, so Grafana sends the regex of every value);
    otherwise exactly one value, the first by default."""
    query = f'SHOW TAG VALUES FROM "{VARIABLE_SOURCE}" WITH KEY = "{key}"'
    if depends_on:
        query += " WHERE " + " AND ".join(matches(tag, variable) for tag, variable in depends_on)
    variable = (
        dash.QueryVariable(name)
        .label(label)
        .query(query)
        .datasource(INFLUX)
        .refresh(VariableRefresh.ON_DASHBOARD_LOAD)
        .sort(VariableSort.ALPHABETICAL_ASC)
        .multi(multi)
        .include_all(multi)
    )
    if multi:
        variable.current(VariableOption(selected=True, text="All", value="$__all"))
    return variable


def district() -> dash.QueryVariable:
    return tag_values("district", "District", "district")


def facility_kind(*, multi: bool = True) -> dash.QueryVariable:
    depends = (("district", "district"),) if multi else ()
    return tag_values("facility_kind", "Facility kind", "facility_kind", depends_on=depends, multi=multi)


def facility() -> dash.QueryVariable:
    return tag_values("facility", "Facility", "facility", depends_on=(("facility_kind", "facility_kind"),))
