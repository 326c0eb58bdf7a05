"""The DCAT-AP catalogue as a graph, without the API: both documents parse to the same graph, it holds every
dataset with its properties, its coverage follows the city model and the roll-up policy, and it conforms to the
vendored DCAT-AP 3.0.1 SHACL shapes, which a broken catalogue fails."""

from __future__ import annotations

import hashlib
import os
import re
import subprocess
import sys
from collections.abc import Callable
from datetime import date, timedelta
from pathlib import Path

import pytest
from rdflib import RDF, RDFS, XSD, Graph, Literal, URIRef
from rdflib.compare import isomorphic
from rdflib.namespace import DCAT, DCTERMS, FOAF, SKOS
from rdflib.term import Node

from services.opendata.catalogue import GSP, JSON_LD, LOCN, TURTLE, build_catalogue, to_jsonld, to_turtle
from services.opendata.datasets import DATASETS
from services.opendata.urls import OpenDataUrls
from services.opendata.vocabularies import PUBLIC_ACCESS, ExportFormat
from smartcity.rollups import RollupPolicy
from tests.support.city_history import build_city
from tests.support.dcat_ap import SH, SHAPES_DIR, UNDEFINED_PROPERTY_SHAPES, parse, undefined_references
from tests.support.dcat_ap import validate_catalogue as validate
from tests.support.filled_city import DEFAULT_SPEC

ROOT = Path(__file__).resolve().parents[2]
CITY = build_city(DEFAULT_SPEC)
URLS = OpenDataUrls.under("https://data.example.org/")
TODAY = date(2025, 3, 15)


def _catalogue() -> Graph:
    return build_catalogue(CITY, URLS, today=TODAY)


def _numbers(wkt: Node | None) -> list[tuple[float, float]]:
    """(lon, lat) pairs of a WKT literal."""
    assert isinstance(wkt, Literal)
    pairs = re.findall(r"(-?\d+(?:\.\d+)?) (-?\d+(?:\.\d+)?)", str(wkt))
    return [(float(lon), float(lat)) for lon, lat in pairs]


def test_the_json_ld_and_the_turtle_are_the_same_graph() -> None:
    graph = _catalogue()
    from_jsonld = parse(to_jsonld(graph), JSON_LD)
    from_turtle = parse(to_turtle(graph), TURTLE)
    assert len(from_jsonld) == len(graph) > 500
    assert isomorphic(from_jsonld, from_turtle)
    assert isomorphic(from_jsonld, graph)


def test_the_catalogue_holds_every_dataset_with_its_properties() -> None:
    graph = parse(to_turtle(_catalogue()), TURTLE)
    catalogue = URIRef(URLS.catalogue)
    assert (catalogue, RDF.type, DCAT.Catalog) in graph
    listed = set(graph.objects(catalogue, DCAT.dataset))
    assert listed == set(graph.subjects(RDF.type, DCAT.Dataset))
    assert len(listed) == len(DATASETS) == 12
    districts = {URIRef(URLS.district(d.id)) for d in CITY.districts}
    for ident, dataset in DATASETS.items():
        node = URIRef(URLS.dataset(ident))
        assert node in listed
        assert graph.value(node, DCTERMS.title) == Literal(dataset.title, lang="en")
        assert graph.value(node, DCTERMS.identifier) == Literal(ident)
        publisher = graph.value(node, DCTERMS.publisher)
        assert publisher == URIRef(URLS.department(dataset.publisher))
        assert (publisher, RDF.type, FOAF.Agent) in graph
        assert graph.value(node, DCTERMS.accrualPeriodicity) == URIRef(dataset.frequency.uri)
        assert set(graph.objects(node, DCAT.theme)) == {URIRef(theme.uri) for theme in dataset.themes}
        assert graph.value(node, DCTERMS.license) == URIRef(dataset.licence.uri)
        assert graph.value(node, DCTERMS.accessRights) == URIRef(PUBLIC_ACCESS)
        treatment = graph.value(node, DCTERMS.provenance)
        assert graph.value(treatment, RDFS.label) == Literal(dataset.privacy.description, lang="en")
        assert set(graph.objects(node, DCTERMS.spatial)) == districts | {URIRef(URLS.node("city-extent"))}
        assert {str(m) for m in graph.objects(node, DCAT.keyword)} == set(dataset.metrics)
        distributions = set(graph.objects(node, DCAT.distribution))
        assert len(distributions) == len(ExportFormat) == 3
        for export_format in ExportFormat:
            distribution = URIRef(URLS.distribution(ident, export_format))
            assert distribution in distributions
            url = URIRef(f"https://data.example.org/v1/open/{ident}.{export_format.value}")
            assert graph.value(distribution, DCAT.accessURL) == url
            assert graph.value(distribution, DCAT.downloadURL) == url
            assert graph.value(distribution, DCAT.mediaType) == URIRef(export_format.media_type_uri)
            assert graph.value(distribution, DCTERMS.format) == URIRef(export_format.file_type)
    person = URIRef(URLS.dataset("school-occupancy"))
    label = str(graph.value(graph.value(person, DCTERMS.provenance), RDFS.label))
    assert "fixed releases" in label
    assert "suppressed" in label


def test_spatial_coverage_is_the_city_s_extent_and_its_districts() -> None:
    graph = _catalogue()
    extent = URIRef(URLS.node("city-extent"))
    (west, south), _, (east, north), *_ = _numbers(graph.value(extent, DCAT.bbox))
    for district in CITY.districts:
        node = URIRef(URLS.district(district.id))
        assert graph.value(node, SKOS.prefLabel) == Literal(district.name, lang="en")
        ring = _numbers(graph.value(graph.value(node, LOCN.geometry), GSP.asWKT))
        assert ring == [(p.lon, p.lat) for p in district.polygon]
        box = district.bbox
        assert west <= box.min_lon <= box.max_lon <= east
        assert south <= box.min_lat <= box.max_lat <= north
    assert west == min(d.bbox.min_lon for d in CITY.districts)
    assert north == max(d.bbox.max_lat for d in CITY.districts)


def test_temporal_coverage_follows_the_retention_of_each_source() -> None:
    graph = _catalogue()
    policy = RollupPolicy()
    for source, days in (("raw", policy.raw_days), ("rp_1h", policy.hour_days)):
        period = URIRef(URLS.node(f"period-{source}"))
        assert graph.value(period, DCAT.startDate) == Literal(TODAY - timedelta(days=days), datatype=XSD.date)
        assert graph.value(period, DCAT.endDate) == Literal(TODAY, datatype=XSD.date)
    hourly, raw = URIRef(URLS.dataset("waste")), URIRef(URLS.dataset("noise"))
    assert str(graph.value(hourly, DCAT.temporalResolution)) == "PT1H"
    assert graph.value(raw, DCAT.temporalResolution) is None
    assert graph.value(raw, DCTERMS.temporal) == URIRef(URLS.node("period-raw"))
    assert graph.value(hourly, DCTERMS.temporal) == URIRef(URLS.node("period-rp_1h"))


def test_a_dataset_with_a_retention_of_its_own_covers_only_that_long() -> None:
    graph = _catalogue()
    days = DATASETS["school-occupancy"].retention_days
    assert days is not None
    assert days < RollupPolicy().hour_days
    period = graph.value(URIRef(URLS.dataset("school-occupancy")), DCTERMS.temporal)
    assert period == URIRef(URLS.node(f"period-rp_1h-{days}d"))
    assert graph.value(period, DCAT.startDate) == Literal(TODAY - timedelta(days=days), datatype=XSD.date)
    assert graph.value(period, DCAT.endDate) == Literal(TODAY, datatype=XSD.date)


def test_the_catalogue_conforms_to_the_dcat_ap_3_shapes() -> None:
    conforms, _, text = validate(_catalogue())
    assert conforms, text


def _noise(graph: Graph) -> URIRef:
    return URIRef(URLS.dataset("noise"))


def _csv(graph: Graph) -> URIRef:
    return URIRef(URLS.distribution("noise", ExportFormat.CSV))


BREAKS: dict[str, tuple[Callable[[Graph], object], Callable[[Graph], URIRef], URIRef]] = {
    "dataset without a title": (lambda g: g.remove((_noise(g), DCTERMS.title, None)), _noise, DCTERMS.title),
    "distribution without an access URL": (lambda g: g.remove((_csv(g), DCAT.accessURL, None)), _csv, DCAT.accessURL),
    "theme without its class": (lambda g: g.remove((None, RDF.type, SKOS.Concept)), _noise, DCAT.theme),
    "two publishers": (
        lambda g: g.add((_noise(g), DCTERMS.publisher, URIRef(URLS.node("city")))),
        _noise,
        DCTERMS.publisher,
    ),
}


@pytest.mark.parametrize("broken", BREAKS, ids=str)
def test_a_broken_catalogue_fails_validation_naming_what_is_wrong(broken: str) -> None:
    mutate, focus, path = BREAKS[broken]
    graph = _catalogue()
    mutate(graph)
    conforms, report, text = validate(graph)
    assert not conforms
    results = [
        (report.value(result, SH.focusNode), report.value(result, SH.resultPath))
        for result in report.subjects(RDF.type, SH.ValidationResult)
    ]
    assert (focus(graph), path) in results, text


def test_the_shapes_are_the_vendored_release_with_its_source_note() -> None:
    note = (SHAPES_DIR / "SOURCE.md").read_text(encoding="utf-8")
    assert "3.0.1" in note
    assert "unchanged" in note
    shapes = Graph()
    for name in ("dcat-ap-SHACL.ttl", "ranges.ttl"):
        shapes.parse(SHAPES_DIR / name, format="turtle")
    assert len(undefined_references(shapes)) == UNDEFINED_PROPERTY_SHAPES
    targets = set(shapes.objects(None, SH.targetClass))
    assert {DCAT.Catalog, DCAT.Dataset, DCAT.Distribution, FOAF.Agent, SKOS.Concept} <= targets


_DIGEST = """
import hashlib
from datetime import date
from services.opendata.catalogue import build_catalogue, to_jsonld, to_turtle
from services.opendata.urls import OpenDataUrls
from tests.support.city_history import build_city
from tests.support.filled_city import DEFAULT_SPEC
urls = OpenDataUrls.under("https://data.example.org/")
graph = build_catalogue(build_city(DEFAULT_SPEC), urls, today=date(2025, 3, 15))
print(hashlib.sha256(to_jsonld(graph) + to_turtle(graph)).hexdigest())
"""


def test_the_documents_are_the_same_bytes_in_every_process() -> None:
    """rdflib's JSON-LD order follows string hashing, which differs per process: the ETag must not."""
    graph = _catalogue()
    here = hashlib.sha256(to_jsonld(graph) + to_turtle(graph)).hexdigest()
    for seed in ("1", "2"):
        env = os.environ | {"PYTHONHASHSEED": seed}
        answer = subprocess.run(
            [sys.executable, "-c", _DIGEST], env=env, cwd=ROOT, capture_output=True, text=True, check=True
        )
        assert answer.stdout.strip() == here
