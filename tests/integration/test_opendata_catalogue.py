"""The DCAT-AP catalogue from the real API: served by uvicorn over the filled city on the session's influxd, read
back with rdflib from both routes, counted against the definitions and validated with pySHACL; ETags, the base
URL of the request, and the public rate limit."""

from __future__ import annotations

from pathlib import Path

import httpx
from rdflib import RDF, URIRef
from rdflib.compare import isomorphic
from rdflib.namespace import DCAT, DCTERMS

from services.api.keys import Role
from services.api.settings import ApiSettings
from services.opendata.catalogue import JSON_LD, TURTLE
from services.opendata.datasets import DATASETS
from services.opendata.urls import OpenDataUrls
from services.opendata.vocabularies import ExportFormat
from tests.support.api_server import serving
from tests.support.api_support import api_settings, auth, create_key, running
from tests.support.dcat_ap import parse, validate_catalogue
from tests.support.filled_city import FilledCity


def _settings(tmp_path: Path, filled_city: FilledCity, **overrides: object) -> ApiSettings:
    settings = api_settings(tmp_path, filled_city.influx, city_file=tmp_path / "filled-city.json", **overrides)
    settings.city_file.write_text(filled_city.city.model_dump_json(), encoding="utf-8")
    return settings


async def test_both_routes_give_one_valid_catalogue_of_every_dataset(tmp_path: Path, filled_city: FilledCity) -> None:
    async with serving(_settings(tmp_path, filled_city)) as served, httpx.AsyncClient(base_url=served.base_url) as api:
        jsonld = await api.get("/v1/catalogue")
        turtle = await api.get("/v1/catalogue.ttl")
        again = await api.get("/v1/catalogue", headers={"If-None-Match": jsonld.headers["ETag"]})
        turtle_again = await api.get("/v1/catalogue.ttl", headers={"If-None-Match": turtle.headers["ETag"]})
    assert jsonld.status_code == turtle.status_code == 200
    assert jsonld.headers["content-type"] == JSON_LD
    assert turtle.headers["content-type"].startswith(TURTLE)
    assert (again.status_code, again.content, turtle_again.status_code) == (304, b"", 304)
    assert jsonld.headers["ETag"] != turtle.headers["ETag"]

    graph = parse(jsonld.content, jsonld.headers["content-type"])
    assert isomorphic(graph, parse(turtle.content, turtle.headers["content-type"]))
    urls = OpenDataUrls.under(served.base_url)
    datasets = set(graph.subjects(RDF.type, DCAT.Dataset))
    assert datasets == set(graph.objects(URIRef(urls.catalogue), DCAT.dataset))
    assert datasets == {URIRef(urls.dataset(ident)) for ident in DATASETS}
    assert len(datasets) == len(DATASETS)
    downloads = {str(url) for url in graph.objects(None, DCAT.downloadURL)}
    assert downloads == {f"{served.base_url}/v1/open/{i}.{f.value}" for i in DATASETS for f in ExportFormat}
    districts = {URIRef(urls.district(d.id)) for d in filled_city.city.districts}
    assert districts < set(graph.objects(URIRef(urls.dataset("noise")), DCTERMS.spatial))
    conforms, _, text = validate_catalogue(graph)
    assert conforms, text


def test_the_catalogue_links_under_the_host_it_was_asked_on(tmp_path: Path, filled_city: FilledCity) -> None:
    settings = _settings(tmp_path, filled_city)
    key = create_key(settings, Role.PLANNER)
    with running(settings) as client:
        proxied = client.get("/v1/catalogue.ttl", headers={"Host": "data.example.org"})
        direct = client.get("/v1/catalogue.ttl")
        with_key = client.get("/v1/catalogue.ttl", headers=auth(key))
    graph = parse(proxied.content, TURTLE)
    assert (URIRef("http://data.example.org/v1/catalogue"), RDF.type, DCAT.Catalog) in graph
    assert URIRef("http://data.example.org/v1/open/noise.csv") in set(graph.objects(None, DCAT.accessURL))
    assert b"data.example.org" not in direct.content
    assert with_key.status_code == 200
    assert with_key.content == direct.content, "a key sees the same public catalogue"


def test_the_catalogue_is_rate_limited_without_a_key(tmp_path: Path, filled_city: FilledCity) -> None:
    settings = _settings(tmp_path, filled_city, public_rate_per_s=0.5, public_burst=2)
    key = create_key(settings, Role.PLANNER)
    with running(settings) as client:
        answers = [client.get(path) for path in ("/v1/catalogue", "/v1/catalogue.ttl", "/v1/catalogue")]
        keyed = [client.get("/v1/catalogue", headers=auth(key)).status_code for _ in range(3)]
        unknown = client.get("/v1/catalogue", params={"format": "xml"}, headers=auth(key))
    assert [answer.status_code for answer in answers] == [200, 200, 429]
    assert answers[2].headers["content-type"] == "application/problem+json"
    assert int(answers[2].headers["Retry-After"]) >= 1
    assert keyed == [200, 200, 200]
    assert unknown.status_code == 422, "an unknown query parameter is refused, as on every route"
