"""The open-data URL scheme, in one place: the catalogue's routes, the export route of each dataset and format,
and the IRIs the catalogue gives its datasets, distributions, publishers and areas.

Nodes of the catalogue are fragments of the catalogue's own URL (``/v1/catalogue#dataset-noise``), so that
dereferencing one answers the document that describes it; districts are the API's district resources.
"""

from __future__ import annotations

from dataclasses import dataclass

from services.opendata.vocabularies import ExportFormat

CATALOGUE_PATH = "/v1/catalogue"
CATALOGUE_TURTLE_PATH = "/v1/catalogue.ttl"
EXPORT_PATH = "/v1/open/{dataset}.{format}"
"""The export route of a dataset in one format (``/v1/open/noise.csv``)."""
DISTRICT_PATH = "/v1/districts/{district}"


def export_path(dataset: str, export_format: ExportFormat) -> str:
    return EXPORT_PATH.format(dataset=dataset, format=export_format.value)


@dataclass(frozen=True, slots=True)
class OpenDataUrls:
    """Absolute URLs under one base (``https://data.example.org``, no trailing slash)."""

    base: str

    @classmethod
    def under(cls, base: str) -> OpenDataUrls:
        return cls(base.rstrip("/"))

    @property
    def catalogue(self) -> str:
        return self.base + CATALOGUE_PATH

    def export(self, dataset: str, export_format: ExportFormat) -> str:
        return self.base + export_path(dataset, export_format)

    def district(self, district: str) -> str:
        return self.base + DISTRICT_PATH.format(district=district)

    def node(self, fragment: str) -> str:
        """A node described by the catalogue document."""
        return f"{self.catalogue}#{fragment}"

    def dataset(self, dataset: str) -> str:
        return self.node(f"dataset-{dataset}")

    def distribution(self, dataset: str, export_format: ExportFormat) -> str:
        return self.node(f"dataset-{dataset}-{export_format.value}")

    def department(self, department: str) -> str:
        return self.node(f"department-{department}")
