"""A small exact linear programme solver over the rationals (two-phase simplex, Bland's rule) for the privacy
attacker in the tests: no floating point, so "the interval has positive width" is a proof, not a tolerance."""

from __future__ import annotations

from collections.abc import Sequence
from fractions import Fraction

F = Fraction


class Infeasible(ValueError):
    pass


def _pivot(rows: list[list[F]], objective: list[F], basis: list[int], row: int, col: int) -> None:
    pivot_row = rows[row]
    inverse = 1 / pivot_row[col]
    rows[row] = pivot_row = [x * inverse for x in pivot_row]
    for other in [*range(len(rows)), -1]:
        target = objective if other < 0 else rows[other]
        if other == row or not target[col]:
            continue
        factor = target[col]
        target[:] = [t - factor * p for t, p in zip(target, pivot_row, strict=True)]
    basis[row] = col


def _run(rows: list[list[F]], objective: list[F], basis: list[int], allowed: int) -> bool:
    """Simplex iterations on the tableau; False if unbounded. ``objective`` holds z - c (maximising)."""
    while True:
        entering = next((j for j in range(allowed) if objective[j] < 0), None)
        if entering is None:
            return True
        best: tuple[F, int, int] | None = None
        for i, row in enumerate(rows):
            if row[entering] > 0:
                ratio = row[-1] / row[entering]
                if best is None or (ratio, basis[i]) < best[:2]:
                    best = (ratio, basis[i], i)
        if best is None:
            return False
        _pivot(rows, objective, basis, best[2], entering)


def maximize(c: Sequence[F], a: Sequence[Sequence[F]], b: Sequence[F]) -> F | None:
    """max c.x subject to a x <= b and x >= 0; None when unbounded; :class:`Infeasible` when nothing fits."""
    found = optimum(c, a, b)
    return None if found is None else found[0]


def optimum(c: Sequence[F], a: Sequence[Sequence[F]], b: Sequence[F]) -> tuple[F, list[F]] | None:
    """Like :func:`maximize`, with an optimal point."""
    n, m = len(c), len(a)
    negative = [i for i in range(m) if b[i] < 0]
    width = n + m + len(negative)
    rows: list[list[F]] = []
    basis: list[int] = []
    for i in range(m):
        row = [F(x) for x in a[i]] + [F(int(i == j)) for j in range(m)] + [F(0)] * len(negative) + [F(b[i])]
        if b[i] < 0:
            row = [-x for x in row]
            row[n + m + negative.index(i)] = F(1)
            basis.append(n + m + negative.index(i))
        else:
            basis.append(n + i)
        rows.append(row)
    if negative:
        objective = [F(0)] * (n + m) + [F(1)] * len(negative) + [F(0)]
        for i, col in enumerate(basis):
            if col >= n + m:
                objective = [o - x for o, x in zip(objective, rows[i], strict=True)]
        _run(rows, objective, basis, width)
        if objective[-1] != 0:
            raise Infeasible("no point satisfies the constraints")
        for i in range(len(rows) - 1, -1, -1):
            if basis[i] >= n + m:
                found = next((j for j in range(n + m) if rows[i][j] != 0), None)
                if found is None:
                    del rows[i], basis[i]
                else:
                    _pivot(rows, objective, basis, i, found)
    rows = [row[: n + m] + row[-1:] for row in rows]
    objective = [-F(x) for x in c] + [F(0)] * (m + 1)
    for i, col in enumerate(basis):
        if objective[col]:
            factor = objective[col]
            objective = [o - factor * x for o, x in zip(objective, rows[i], strict=True)]
    if not _run(rows, objective, basis, n + m):
        return None
    point = [F(0)] * n
    for i, col in enumerate(basis):
        if col < n:
            point[col] = rows[i][-1]
    return objective[-1], point
