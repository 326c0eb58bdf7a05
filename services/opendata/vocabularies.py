"""The controlled vocabularies the open datasets are described with: the EU Publications Office's authority tables
(data themes, update frequencies, licences, file types, access rights, languages) and IANA media types, each term
with its URI and English label. DCAT-AP 3 recommends these vocabularies, so a national portal maps nothing.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

EU_AUTHORITY = "http://publications.europa.eu/resource/authority/"
IANA_MEDIA_TYPES = "https://www.iana.org/assignments/media-types/"


class Theme(enum.StrEnum):
    """EU data themes (``.../authority/data-theme``)."""

    ENVIRONMENT = "ENVI"
    TRANSPORT = "TRAN"
    ENERGY = "ENER"
    HEALTH = "HEAL"
    EDUCATION = "EDUC"
    SOCIETY = "SOCI"
    GOVERNMENT = "GOVE"
    REGIONS = "REGI"

    @property
    def uri(self) -> str:
        return f"{THEME_SCHEME}/{self.value}"

    @property
    def label(self) -> str:
        return _THEME_LABELS[self]


THEME_SCHEME = EU_AUTHORITY + "data-theme"
THEME_SCHEME_TITLE = "Data theme"

_THEME_LABELS = {
    Theme.ENVIRONMENT: "Environment",
    Theme.TRANSPORT: "Transport",
    Theme.ENERGY: "Energy",
    Theme.HEALTH: "Health",
    Theme.EDUCATION: "Education, culture and sport",
    Theme.SOCIETY: "Population and society",
    Theme.GOVERNMENT: "Government and public sector",
    Theme.REGIONS: "Regions and cities",
}


class Frequency(enum.StrEnum):
    """EU update frequencies (``.../authority/frequency``)."""

    CONTINUOUS = "UPDATE_CONT"
    """Continuously updated: a new reading whenever a sensor reports."""
    HOURLY = "HOURLY"
    DAILY = "DAILY"

    @property
    def uri(self) -> str:
        return f"{EU_AUTHORITY}frequency/{self.value}"

    @property
    def label(self) -> str:
        return {"UPDATE_CONT": "continuously updated", "HOURLY": "hourly", "DAILY": "daily"}[self.value]


@dataclass(frozen=True, slots=True)
class Licence:
    spdx: str
    """SPDX identifier (``CC-BY-4.0``): what an export's provenance names."""
    title: str
    uri: str
    """The EU licence vocabulary's URI: what dct:license points at."""
    deed: str
    """The licence's own page."""


CC_BY_4_0 = Licence(
    spdx="CC-BY-4.0",
    title="Creative Commons Attribution 4.0 International",
    uri=EU_AUTHORITY + "licence/CC_BY_4_0",
    deed="https://creativecommons.org/licenses/by/4.0/",
)

PUBLIC_ACCESS = EU_AUTHORITY + "access-right/PUBLIC"
"""EU access right "public": anyone may have it, without a key."""
PUBLIC_ACCESS_LABEL = "public"
ENGLISH = EU_AUTHORITY + "language/ENG"
LOCAL_AUTHORITY = "http://purl.org/adms/publishertype/LocalAuthority"
"""ADMS publisher type of a city and its departments."""
LOCAL_AUTHORITY_LABEL = "Local Authority"


class ExportFormat(enum.StrEnum):
    """The formats every open dataset is exported in; the value is the export URL's extension."""

    CSV = "csv"
    GEOJSON = "geojson"
    SENML = "senml"

    @property
    def media_type(self) -> str:
        return {"csv": "text/csv", "geojson": "application/geo+json", "senml": "application/senml+json"}[self.value]

    @property
    def media_type_uri(self) -> str:
        return IANA_MEDIA_TYPES + self.media_type

    @property
    def file_type(self) -> str:
        """The EU file type: SenML JSON has none of its own, so it is JSON (its media type says which)."""
        return EU_AUTHORITY + "file-type/" + {"csv": "CSV", "geojson": "GEOJSON", "senml": "JSON"}[self.value]

    @property
    def label(self) -> str:
        return {"csv": "CSV", "geojson": "GeoJSON", "senml": "SenML JSON"}[self.value]
