"""Reading a DCAT-AP catalogue back (:func:`parse`) and validating it against the DCAT-AP 3.0.1 SHACL shapes
vendored in ``tests/reference/dcat-ap-3.0.1/`` (:func:`validate_catalogue`).

Both files apply: ``dcat-ap-SHACL.ttl`` (cardinalities, node kinds and the class ranges) and ``ranges.ttl`` (the
class ranges again, plus those of data services). ``ranges.ttl`` refers to :data:`UNDEFINED_PROPERTY_SHAPES`
property shapes that neither file defines; pySHACL refuses to evaluate a shape that points at one. A reference to
an undefined shape constrains nothing, so those references are dropped, and only those: their number is checked,
so a different set of shapes is noticed rather than silently loosened.
"""

from __future__ import annotations

import warnings
from functools import cache
from pathlib import Path

from pyshacl import validate
from rdflib import RDF, Graph, Namespace
from rdflib.term import Node

SHAPES_DIR = Path(__file__).resolve().parents[1] / "reference" / "dcat-ap-3.0.1"
SHAPE_FILES = ("dcat-ap-SHACL.ttl", "ranges.ttl")
UNDEFINED_PROPERTY_SHAPES = 5
SH = Namespace("http://www.w3.org/ns/shacl#")


def undefined_references(shapes: Graph) -> list[tuple[Node, Node]]:
    """(node shape, property shape) pairs whose property shape has no ``sh:path`` anywhere in ``shapes``."""
    return [
        (shape, prop)
        for shape in shapes.subjects(RDF.type, SH.NodeShape)
        for prop in shapes.objects(shape, SH.property)
        if shapes.value(prop, SH.path) is None
    ]


@cache
def _shapes() -> Graph:
    shapes = Graph()
    for name in SHAPE_FILES:
        shapes.parse(SHAPES_DIR / name, format="turtle")
    dangling = undefined_references(shapes)
    if len(dangling) != UNDEFINED_PROPERTY_SHAPES:
        raise AssertionError(f"expected {UNDEFINED_PROPERTY_SHAPES} undefined property shapes, found {len(dangling)}")
    for shape, prop in dangling:
        shapes.remove((shape, SH.property, prop))
    return shapes


def validate_catalogue(graph: Graph) -> tuple[bool, Graph, str]:
    """pySHACL's verdict on ``graph`` under the DCAT-AP 3.0.1 shapes: (conforms, report graph, report text)."""
    result, report, text = validate(graph, shacl_graph=_shapes(), allow_warnings=False)
    assert isinstance(result, bool)
    assert isinstance(report, Graph)
    assert isinstance(text, str)
    return result, report, text


def parse(document: bytes | str, media_type: str) -> Graph:
    """A JSON-LD (``application/ld+json``) or Turtle (``text/turtle``) document as a graph.

    rdflib 7.6's JSON-LD parser builds a ``ConjunctiveGraph`` of its own and so warns that the class is
    deprecated; the warning is about rdflib's insides, not the document, and is ignored here only."""
    graph = Graph()
    if media_type.startswith("application/ld+json"):
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", "ConjunctiveGraph is deprecated", DeprecationWarning)
            return graph.parse(data=document, format="json-ld")
    assert media_type.startswith("text/turtle"), media_type
    return graph.parse(data=document, format="turtle")
