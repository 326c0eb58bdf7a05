"""The DCAT-AP 3 catalogue of the open datasets, as an rdflib graph, and its JSON-LD and Turtle documents.

One ``dcat:Catalog`` published by the city holds every dataset of :data:`services.opendata.datasets.DATASETS`
with its title, description, keywords, publisher (the department, a ``foaf:Agent``), themes, update frequency,
spatial coverage (the city's extent and each district, as ``dct:Location`` with ``locn:geometry``, ``dcat:bbox``
and ``dcat:centroid`` in WKT), temporal coverage (a ``dct:PeriodOfTime`` from the retention of its source),
licence, access rights, privacy treatment and three distributions (CSV, GeoJSON, SenML JSON).

The privacy treatment is the dataset's ``dct:provenance``: a ``dct:ProvenanceStatement`` saying how the published
values were derived from the measurements (as measured, or fixed releases with suppression). ``dct:accessRights``
keeps its DCAT-AP meaning, who may have the data: the EU access right ``PUBLIC`` for every open dataset.

Every resource a property points at carries the class DCAT-AP gives that property's range (a theme is a
``skos:Concept`` with its label, a licence a ``dct:LicenseDocument``, a format a ``dct:MediaTypeOrExtent``...),
so that the DCAT-AP 3.0.1 SHACL shapes, whose range constraints are ``sh:class``, validate the graph on its own.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from datetime import date, timedelta

from rdflib import RDF, RDFS, XSD, Graph, Literal, Namespace, URIRef
from rdflib.namespace import DCAT, DCTERMS, FOAF, SKOS

from services.opendata.datasets import DATASETS, OpenDataset, Privacy, Source, publisher_of
from services.opendata.spatial import WKT, Extent, city_extent, district_extent
from services.opendata.urls import OpenDataUrls
from services.opendata.vocabularies import (
    ENGLISH,
    LOCAL_AUTHORITY,
    LOCAL_AUTHORITY_LABEL,
    PUBLIC_ACCESS,
    PUBLIC_ACCESS_LABEL,
    THEME_SCHEME,
    THEME_SCHEME_TITLE,
    ExportFormat,
)
from smartcity.city.model import City
from smartcity.rollups import RollupPolicy

LOCN = Namespace("http://www.w3.org/ns/locn#")
GSP = Namespace("http://www.opengis.net/ont/geosparql#")
PREFIXES = {
    "dcat": str(DCAT),
    "dct": str(DCTERMS),
    "foaf": str(FOAF),
    "skos": str(SKOS),
    "locn": str(LOCN),
    "gsp": str(GSP),
    "rdfs": str(RDFS),
    "xsd": str(XSD),
}
JSON_LD = "application/ld+json"
TURTLE = "text/turtle"


def _text(value: str) -> Literal:
    return Literal(value, lang="en")


class _Builder:
    def __init__(self, city: City, urls: OpenDataUrls, today: date, policy: RollupPolicy) -> None:
        self.graph = Graph()
        for prefix, namespace in PREFIXES.items():
            self.graph.bind(prefix, namespace)
        self.city, self.urls, self.today, self.policy = city, urls, today, policy
        self.catalogue = URIRef(urls.catalogue)

    def add(self, subject: URIRef, *pairs: tuple[URIRef, URIRef | Literal]) -> URIRef:
        for predicate, value in pairs:
            self.graph.add((subject, predicate, value))
        return subject

    def typed(self, iri: str, cls: URIRef, *pairs: tuple[URIRef, URIRef | Literal]) -> URIRef:
        """A resource with its range class (and whatever the shapes ask of that class)."""
        return self.add(URIRef(iri), (RDF.type, cls), *pairs)

    # -- the catalogue's own resources --------------------------------------------------------------------------
    def agent(self, iri: str, name: str) -> URIRef:
        kind = self.typed(LOCAL_AUTHORITY, SKOS.Concept, (SKOS.prefLabel, _text(LOCAL_AUTHORITY_LABEL)))
        return self.typed(iri, FOAF.Agent, (FOAF.name, _text(name)), (DCTERMS.type, kind))

    def location(self, iri: str, extent: Extent) -> URIRef:
        geometry = self.typed(
            f"{iri}-geometry" if "#" in iri else f"{iri}#geometry",
            LOCN.Geometry,
            (RDF.type, GSP.Geometry),
            (GSP.asWKT, Literal(extent.geometry, datatype=WKT)),
        )
        return self.typed(
            iri,
            DCTERMS.Location,
            (SKOS.prefLabel, _text(extent.name)),
            (LOCN.geometry, geometry),
            (DCAT.bbox, Literal(extent.bbox, datatype=WKT)),
            (DCAT.centroid, Literal(extent.centroid, datatype=WKT)),
        )

    def areas(self) -> list[URIRef]:
        """The city's extent first, then each district."""
        extent = city_extent(self.city)
        found = [] if extent is None else [self.location(self.urls.node("city-extent"), extent)]
        found += [self.location(self.urls.district(d.id), district_extent(d)) for d in self.city.districts]
        return found

    def period(self, source: Source, retention_days: int | None = None) -> URIRef:
        """What the store can hold of a source: from its retention (days before today) until today; a dataset
        with a retention of its own (shorter than the source's) reaches back only that far
        (``#period-{source}-{days}d``)."""
        tier = source.tier
        days = self.policy.raw_days if tier is None else self.policy.days(tier)
        name = f"period-{source.value}"
        if retention_days is not None and (not days or retention_days < days):
            days, name = retention_days, f"{name}-{retention_days}d"
        pairs: list[tuple[URIRef, URIRef | Literal]] = [(DCAT.endDate, Literal(self.today, datatype=XSD.date))]
        if days:
            pairs.insert(0, (DCAT.startDate, Literal(self.today - timedelta(days=days), datatype=XSD.date)))
        return self.typed(self.urls.node(name), DCTERMS.PeriodOfTime, *pairs)

    def provenance(self, privacy: Privacy) -> URIRef:
        return self.typed(
            self.urls.node(f"privacy-{privacy.value.replace(' ', '-')}"),
            DCTERMS.ProvenanceStatement,
            (RDFS.label, _text(privacy.description)),
        )

    # -- datasets -----------------------------------------------------------------------------------------------
    def dataset(self, dataset: OpenDataset, areas: Iterable[URIRef]) -> URIRef:
        department = publisher_of(dataset, self.city.departments)
        if department is None:
            publisher = URIRef(self.urls.node("city"))
        else:
            publisher = self.agent(self.urls.department(department.id), f"{self.city.name}, {department.name}")
        licence = self.typed(
            dataset.licence.uri,
            DCTERMS.LicenseDocument,
            (RDFS.label, _text(dataset.licence.title)),
            (DCTERMS.identifier, Literal(dataset.licence.spdx)),
            (RDFS.seeAlso, URIRef(dataset.licence.deed)),
        )
        node = self.typed(
            self.urls.dataset(dataset.id),
            DCAT.Dataset,
            (DCTERMS.identifier, Literal(dataset.id)),
            (DCTERMS.title, _text(dataset.title)),
            (DCTERMS.description, _text(dataset.description)),
            (DCTERMS.publisher, publisher),
            (DCTERMS.license, licence),
            (
                DCTERMS.accessRights,
                self.typed(PUBLIC_ACCESS, DCTERMS.RightsStatement, (RDFS.label, _text(PUBLIC_ACCESS_LABEL))),
            ),
            (DCTERMS.provenance, self.provenance(dataset.privacy)),
            (DCTERMS.temporal, self.period(dataset.source, dataset.retention_days)),
            (
                DCTERMS.accrualPeriodicity,
                self.typed(dataset.frequency.uri, DCTERMS.Frequency, (SKOS.prefLabel, _text(dataset.frequency.label))),
            ),
            *((DCTERMS.spatial, area) for area in areas),
            *((DCAT.keyword, Literal(metric)) for metric in dataset.metrics),
        )
        if dataset.temporal.duration is not None:
            self.add(node, (DCAT.temporalResolution, Literal(dataset.temporal.duration, datatype=XSD.duration)))
        for theme in dataset.themes:
            concept = self.typed(
                theme.uri, SKOS.Concept, (SKOS.prefLabel, _text(theme.label)), (SKOS.inScheme, URIRef(THEME_SCHEME))
            )
            self.add(node, (DCAT.theme, concept))
        for export_format in ExportFormat:
            self.add(node, (DCAT.distribution, self.distribution(dataset, export_format, licence)))
        return node

    def distribution(self, dataset: OpenDataset, export_format: ExportFormat, licence: URIRef) -> URIRef:
        url = URIRef(self.urls.export(dataset.id, export_format))
        return self.typed(
            self.urls.distribution(dataset.id, export_format),
            DCAT.Distribution,
            (DCTERMS.title, _text(f"{dataset.title} ({export_format.label})")),
            (
                DCTERMS.description,
                _text(f"{dataset.title} as {export_format.label}, streamed; the period is chosen with start and end."),
            ),
            (DCAT.accessURL, url),
            (DCAT.downloadURL, url),
            (DCTERMS.format, self.typed(export_format.file_type, DCTERMS.MediaTypeOrExtent)),
            (DCAT.mediaType, self.typed(export_format.media_type_uri, DCTERMS.MediaType)),
            (DCTERMS.license, licence),
        )

    def build(self, datasets: Mapping[str, OpenDataset]) -> Graph:
        areas = self.areas()
        self.agent(self.urls.node("city"), self.city.name)
        self.typed(THEME_SCHEME, SKOS.ConceptScheme, (DCTERMS.title, _text(THEME_SCHEME_TITLE)))
        self.typed(
            self.urls.catalogue,
            DCAT.Catalog,
            (DCTERMS.title, _text(f"{self.city.name} open data")),
            (
                DCTERMS.description,
                _text(
                    f"The open datasets of {self.city.name}: environmental measurements per sensor, public "
                    "infrastructure per facility and person-related occupancy as privacy-protected releases, each "
                    "as CSV, GeoJSON and SenML JSON without a key."
                ),
            ),
            (DCTERMS.publisher, URIRef(self.urls.node("city"))),
            (DCTERMS.language, self.typed(ENGLISH, DCTERMS.LinguisticSystem)),
            *((DCTERMS.spatial, area) for area in areas[:1]),
            (DCAT.themeTaxonomy, URIRef(THEME_SCHEME)),
            *((DCAT.dataset, self.dataset(dataset, areas)) for dataset in datasets.values()),
        )
        return self.graph


def build_catalogue(
    city: City,
    urls: OpenDataUrls,
    *,
    today: date,
    policy: RollupPolicy | None = None,
    datasets: Mapping[str, OpenDataset] = DATASETS,
) -> Graph:
    """The catalogue of ``datasets`` in ``city`` under ``urls``; temporal coverage ends ``today`` (the city's
    local date) and reaches back as far as ``policy`` keeps each source (the roll-up policy's defaults unless
    given)."""
    return _Builder(city, urls, today, policy or RollupPolicy()).build(datasets)


def to_jsonld(graph: Graph) -> bytes:
    """JSON-LD, compacted with the DCAT-AP prefixes as its context, in a stable order: nodes by ``@id``, the
    values of a property sorted (they are sets in JSON-LD), so the same graph gives the same bytes (and ETag) in
    every process. rdflib's own order follows the store's hashing, which changes from one process to the next."""
    document = json.loads(graph.serialize(format="json-ld", context=PREFIXES, auto_compact=True))
    nodes = document.get("@graph", [])
    for node in nodes:
        for key, value in node.items():
            if isinstance(value, list):
                node[key] = sorted(value, key=lambda item: json.dumps(item, sort_keys=True))
    document["@graph"] = sorted(nodes, key=lambda node: str(node.get("@id", "")))
    return json.dumps(document, indent=1, sort_keys=True, ensure_ascii=False).encode()


def to_turtle(graph: Graph) -> bytes:
    return graph.serialize(format="turtle").encode()
