"""Render the open datasets as a Markdown table, so the table in docs/OPEN_DATA.md comes from the definitions.

``python -m services.opendata.doc [docs/OPEN_DATA.md]`` rewrites the text between the markers
``<!-- datasets:begin -->`` and ``<!-- datasets:end -->``; a unit test fails when the file is out of date.
"""

from __future__ import annotations

from services.opendata.datasets import ALL_KINDS, DATASETS, OpenDataset
from smartcity.doc_sections import rewrite_main, with_section

BEGIN = "<!-- datasets:begin -->"
END = "<!-- datasets:end -->"


def _kinds(dataset: OpenDataset) -> str:
    if dataset.facility_kinds == ALL_KINDS:
        return "all"
    return ", ".join(kind.value for kind in dataset.facility_kinds)


def row(dataset: OpenDataset) -> str:
    cells = [
        f"`{dataset.id}`",
        dataset.title,
        ", ".join(f"`{metric}`" for metric in dataset.metrics),
        _kinds(dataset),
        dataset.spatial.value,
        f"{dataset.temporal.value} (`{dataset.source.value}`)",
        f"`{dataset.publisher}`",
        f"`{dataset.frequency.value}`",
        ", ".join(f"`{theme.value}`" for theme in dataset.themes),
        "yes: fixed releases" if dataset.person_related else "no",
        f"{dataset.caps.max_days} d, {dataset.caps.max_rows:,} rows",
        "as its tiers" if dataset.retention_days is None else f"{dataset.retention_days} d, every tier",
        dataset.licence.spdx,
    ]
    return "| " + " | ".join(cells) + " |"


def render() -> str:
    lines = [
        "| dataset | title | metrics | facility kinds | spatial | temporal (source) | publisher | updated "
        "| themes | person-related | caps per request | kept | licence |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    lines += [row(dataset) for dataset in DATASETS.values()]
    return "\n".join(lines)


def updated(document: str) -> str:
    """``document`` with the generated table between the markers."""
    return with_section(document, BEGIN, END, render())


def main(argv: list[str] | None = None) -> int:
    return rewrite_main("docs/OPEN_DATA.md", updated, argv)


if __name__ == "__main__":
    raise SystemExit(main())
