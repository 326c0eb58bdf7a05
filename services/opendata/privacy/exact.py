"""Exact linear algebra over the rationals for the audit: the span of sparse integer row vectors.

Rows are ``{column: integer}``; elimination is fraction-free (``b[p] * v - v[p] * b``, then divided by the gcd of
the entries), so every answer is exact: a rational combination of rows is an integer combination scaled by a
common denominator. The basis is kept in reduced row echelon form (each basis row is zero at every other row's
pivot), so reducing a vector is one pass over the pivots it holds.
"""

from __future__ import annotations

import math

Vector = dict[int, int]


def _normalised(vector: Vector) -> Vector:
    divisor = math.gcd(*vector.values()) if vector else 1
    if divisor > 1:
        return {c: x // divisor for c, x in vector.items()}
    return vector


def _eliminate(target: Vector, row: Vector, pivot: int) -> Vector:
    """``target`` with ``row`` (non-zero at ``pivot``) eliminated from it at ``pivot``."""
    t, r = target[pivot], row[pivot]
    out = {c: x * r for c, x in target.items()} if r != 1 else dict(target)
    for c, x in row.items():
        value = out.get(c, 0) - t * x
        if value:
            out[c] = value
        else:
            out.pop(c, None)
    return out


class ExactSpan:
    """The span of the rows added so far. With ``track=True`` each row carries which added rows it combines, so
    :meth:`add` can name the rows a dependent one depends on."""

    def __init__(self, *, track: bool = False) -> None:
        self.track = track
        self._rows: dict[int, tuple[Vector, Vector]] = {}

    @property
    def rank(self) -> int:
        return len(self._rows)

    def reduce(self, vector: Vector, combo: Vector | None = None) -> tuple[Vector, Vector]:
        """``vector`` minus its part in the span (and, when tracking, the combination of added rows that remains)."""
        v = dict(vector)
        tags = dict(combo or {})
        for pivot in [c for c in v if c in self._rows]:
            row, row_tags = self._rows[pivot]
            r, t = row[pivot], v[pivot]
            v = _eliminate(v, row, pivot)
            if self.track:
                scaled = {tag: x * r for tag, x in tags.items()}
                for tag, x in row_tags.items():
                    value = scaled.get(tag, 0) - t * x
                    if value:
                        scaled[tag] = value
                    else:
                        scaled.pop(tag, None)
                tags = scaled
            elif len(v) > 64:
                v = _normalised(v)
        return _normalised(v) if not self.track else v, tags

    def contains(self, vector: Vector) -> bool:
        return not self.reduce(vector)[0]

    def add(self, vector: Vector, tag: int | None = None) -> Vector | None:
        """Add a row; returns None if it widened the span, else (when tracking) the dependency it closes: tags of
        the added rows, itself included, with non-zero coefficients in a combination that is zero."""
        combo = {tag: 1} if self.track and tag is not None else {}
        residual, tags = self.reduce(vector, combo)
        if not residual:
            return tags
        pivot = min(residual)
        for other, (row, row_tags) in list(self._rows.items()):
            if pivot in row:
                r, t = residual[pivot], row[pivot]
                new_row = _eliminate(row, residual, pivot)
                if self.track:
                    new_tags = {k: x * r for k, x in row_tags.items()}
                    for k, x in tags.items():
                        value = new_tags.get(k, 0) - t * x
                        if value:
                            new_tags[k] = value
                        else:
                            new_tags.pop(k, None)
                    self._rows[other] = (new_row, new_tags)
                else:
                    self._rows[other] = (_normalised(new_row), {})
        self._rows[pivot] = (residual, tags)
        return None
