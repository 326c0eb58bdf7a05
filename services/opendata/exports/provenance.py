"""Licence and provenance of one export: which dataset, generated when, from which store tier, with which privacy
treatment, for which period and district, under which licence, published by whom.

Every export carries them in its HTTP headers, the one place all three formats share:

- ``Link``: the licence (``rel="license"``, the licence's deed) and the dataset's description in the DCAT-AP
  catalogue (``rel="describedby"``, ``/v1/catalogue#dataset-{id}``), RFC 8288;
- ``X-Provenance``: an RFC 8941 dictionary of strings, ``dataset="noise", generated-at="...", source="raw",
  privacy="none", licence="CC-BY-4.0", start="...", end="..."`` (and ``district`` when one was asked for);
- ``Content-Disposition``: a file name that says the dataset and the period.

A GeoJSON export carries the same facts, and the licence's and treatment's full text, inside the document too,
as the FeatureCollection's ``metadata`` member (:meth:`Provenance.metadata`). CSV and SenML JSON have no place
for them that every reader accepts (RFC 4180 knows no comment lines; a SenML reader refuses fields it does not
know), so their bodies stay plain.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from services.api.schemas import iso
from services.opendata.datasets import OpenDataset
from services.opendata.exports.columns import Layout
from services.opendata.privacy import PrivacyPolicy
from services.opendata.vocabularies import ExportFormat


@dataclass(frozen=True, slots=True)
class Provenance:
    dataset: OpenDataset
    generated_ms: int
    start_ms: int
    end_ms: int
    district: str | None
    described_by: str
    """The dataset's node in the catalogue (absolute URL)."""
    publisher: tuple[str, str]
    """(id, name) of the publishing department, or of the city when no department owns the dataset."""
    policy: PrivacyPolicy | None = None
    """The privacy policy of a person-related dataset's releases (its published method)."""

    def fields(self) -> dict[str, str]:
        """The facts of ``X-Provenance``, in order."""
        facts = {
            "dataset": self.dataset.id,
            "generated-at": iso(self.generated_ms),
            "source": self.dataset.source.value,
            "privacy": self.dataset.privacy.value,
            "licence": self.dataset.licence.spdx,
            "start": iso(self.start_ms),
            "end": iso(self.end_ms),
        }
        if self.district is not None:
            facts["district"] = self.district
        return facts

    def filename(self, export_format: ExportFormat) -> str:
        def stamp(ms: int) -> str:
            return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y%m%dT%H%M%SZ")

        where = f"_{self.district}" if self.district else ""
        return f"{self.dataset.id}{where}_{stamp(self.start_ms)}_{stamp(self.end_ms)}.{export_format.value}"

    def headers(self, export_format: ExportFormat) -> dict[str, str]:
        links = [
            f'<{self.dataset.licence.deed}>; rel="license"',
            f'<{self.described_by}>; rel="describedby"; type="application/ld+json"',
        ]
        return {
            "Link": ", ".join(links),
            "X-Provenance": ", ".join(f'{key}="{_sf_string(value)}"' for key, value in self.fields().items()),
            "Content-Disposition": f'attachment; filename="{self.filename(export_format)}"',
        }

    def metadata(self, layout: Layout) -> dict[str, Any]:
        """The GeoJSON ``metadata`` member."""
        dataset = self.dataset
        licence = dataset.licence
        return {
            "dataset": dataset.id,
            "title": dataset.title,
            "description": dataset.description,
            "publisher": {"id": self.publisher[0], "name": self.publisher[1]},
            "licence": {"id": licence.spdx, "title": licence.title, "uri": licence.uri, "url": licence.deed},
            "generated_at": iso(self.generated_ms),
            "source": dataset.source.value,
            "privacy": {"treatment": dataset.privacy.value, "description": dataset.privacy.description},
            "period": {"start": iso(self.start_ms), "end": iso(self.end_ms)},
            "district": self.district,
            "spatial": dataset.spatial.value,
            "temporal": dataset.temporal.value,
            "columns": {
                column.name: {"unit": column.unit, "combine": column.combine.value} for column in layout.columns
            },
            "described_by": self.described_by,
            "privacy_policy": None if self.policy is None else self.policy.model_dump(mode="json"),
        }


def _sf_string(value: str) -> str:
    """An RFC 8941 sf-string's content: printable ASCII, quotes and backslashes escaped (ids are slugs and times
    are ISO 8601, so nothing else is ever there)."""
    printable = "".join(char if " " <= char <= "~" else "?" for char in value)
    return printable.replace("\\", "\\\\").replace('"', '\\"')
