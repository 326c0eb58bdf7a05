"""The worker's memory of flags: which are open, which closed recently, and which points a set of findings
changes. Loaded from ``quality_flag`` at start, so a restart neither loses an open flag nor opens it twice."""

from __future__ import annotations

from collections.abc import Iterable

from services.quality.findings import Finding
from smartcity.quality_flags import Flag, FlagKind

Key = tuple[str, FlagKind, str]
Scope = set[tuple[FlagKind, str]]
"""The (kind, metric) pairs a detector pass judged for a device: an open flag among them without a finding
has ended."""


class FlagBook:
    def __init__(self, flags: Iterable[Flag] = ()) -> None:
        self.open: dict[Key, Flag] = {}
        self.closed: dict[Key, list[Flag]] = {}
        for flag in sorted(flags, key=lambda f: f.start_ms):
            self._keep(flag)

    def _keep(self, flag: Flag) -> None:
        if flag.open:
            self.open[flag.key] = flag
            return
        if self.open.get(flag.key) is not None and self.open[flag.key].start_ms == flag.start_ms:
            del self.open[flag.key]
        same = [f for f in self.closed.get(flag.key, []) if f.start_ms != flag.start_ms]
        self.closed[flag.key] = [*same, flag]

    def _known(self, key: Key, start_ms: int, end_ms: int) -> bool:
        return any(f.start_ms < end_ms and f.end_ms > start_ms for f in self.closed.get(key, []))

    def observe(
        self, device: str, findings: Iterable[Finding], scope: Scope, *, close_at: int, detected_ms: int
    ) -> list[Flag]:
        """The flags to write for one device after a pass: new ones, and open ones the findings (or their
        absence within ``scope``) end. ``close_at`` ends an open flag the pass no longer sees."""
        changed: list[Flag] = []
        active: set[Key] = set()
        for finding in findings:
            key = (device, finding.kind, finding.metric)
            current = self.open.get(key)
            if finding.end_ms is None:
                active.add(key)
                if current is None:
                    changed.append(self._new(device, finding, detected_ms))
                continue
            if current is not None and finding.end_ms > current.start_ms:
                changed.append(current.closed(finding.end_ms))
                active.add(key)
            elif current is None and not self._known(key, finding.start_ms, finding.end_ms):
                changed.append(self._new(device, finding, detected_ms))
        for key, flag in list(self.open.items()):
            if key[0] == device and key not in active and (key[1], key[2]) in scope:
                changed.append(flag.closed(close_at))
        for flag in changed:
            self._keep(flag)
        return changed

    @staticmethod
    def _new(device: str, finding: Finding, detected_ms: int) -> Flag:
        return Flag(
            device=device,
            kind=finding.kind,
            start_ms=finding.start_ms,
            reason=finding.reason,
            score=finding.score,
            metric=finding.metric,
            end_ms=finding.end_ms or 0,
            detected_ms=detected_ms,
            basis=finding.basis,
        )

    def forget_before(self, ms: int) -> None:
        """Drop closed flags that ended before ``ms`` (beyond any pass's look-back)."""
        for key in list(self.closed):
            kept = [f for f in self.closed[key] if f.end_ms >= ms]
            if kept:
                self.closed[key] = kept
            else:
                del self.closed[key]

    def counts(self) -> dict[FlagKind, int]:
        """Open flags by kind."""
        counted = dict.fromkeys(FlagKind, 0)
        for key in self.open:
            counted[key[1]] += 1
        return counted
