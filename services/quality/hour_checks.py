"""The hour pass's judgements over the hourly roll-ups of the look-back: stuck runs (a rest value held while the
peers moved included), drift against the peers (a bin's at its emptyings: it has none), battery trends of
narrowband devices.

Peers are the devices of the same type on the same kind of network at the same kind of facility in the district,
or in the city when the district has fewer than ``min_peers`` (a level alone on its network: on any network; the
air or the weather with fewer still: at any facility);
metrics set by each installation have none (:mod:`services.quality.limits`).
The hours a series held a stuck value are left out of its peers' medians and of its own drift judgement: a
thermometer stuck yesterday is a peer again today, and its flat hours are the stuck flag's, not a drift's.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import NamedTuple

from services.quality.book import FlagBook, Scope
from services.quality.device_checks import battery
from services.quality.fill_checks import fill_drift
from services.quality.findings import Finding, HourStat
from services.quality.limits import limits_of
from services.quality.peer_checks import Reference, drift, expected_levels, peer_medians
from services.quality.reads import StatKey
from services.quality.rules import Rules
from services.quality.value_checks import stuck
from smartcity.city.directory import DeviceInfo
from smartcity.city.model import NetworkClass
from smartcity.contract.metrics import METRICS, Temporality
from smartcity.quality_flags import FlagKind
from smartcity.rollups import HOUR_MS

VITALS = ("battery", "report_interval")

GroupKey = tuple[str, str, str, str, str]
"""(device type, network, facility kind, district, metric)."""


def outside(stats: list[HourStat], spans: Sequence[Finding]) -> list[HourStat]:
    """The hours of ``stats`` that no span of ``spans`` touches (an open span runs to the newest data)."""
    if not spans:
        return stats
    return [
        h
        for h in stats
        if not any(h.hour_ms + HOUR_MS > s.start_ms and (s.end_ms is None or h.hour_ms < s.end_ms) for s in spans)
    ]


def peer_groups(
    hourly: Mapping[StatKey, list[HourStat]],
    infos: Mapping[str, DeviceInfo],
    min_peers: int,
    stuck_runs: Mapping[StatKey, Sequence[Finding]] | None = None,
    *,
    city_wide: bool = False,
) -> dict[StatKey, dict[int, float]]:
    """Per (device, metric) that has peers, the hourly medians of its peer group (the district's, or the city's
    when the district has fewer than ``min_peers`` or ``city_wide``); the hours of ``stuck_runs`` are nobody's
    peer. A gauge read by fewer than ``min_peers`` devices of its network in the city is compared with the city's
    devices of its type and facility kind on any network: people present, a power draw or a temperature mean
    the same whichever network reports them, while a count per reading depends on the device's report interval
    (a radio counter's 5-minute counts are not a wired one's minute counts). An outdoor level with fewer still
    (:attr:`~services.quality.limits.MetricLimits.ambient`: the air, the weather) is compared with its type at any
    facility in its district, or in the city: the air at the only school with a sensor is the district's air."""
    runs = stuck_runs or {}
    groups: dict[GroupKey, dict[str, list[HourStat]]] = {}
    for (device_id, metric), stats in hourly.items():
        info = infos.get(device_id)
        if info is None or metric in VITALS or not limits_of(metric).peers:
            continue
        key = (info.device_type.value, info.network.value, info.facility_kind.value, info.district_id, metric)
        groups.setdefault(key, {})[device_id] = outside(stats, runs.get((device_id, metric), ()))
    by_city: dict[tuple[str, str, str, str], dict[str, list[HourStat]]] = {}
    any_network: dict[tuple[str, str, str], dict[str, list[HourStat]]] = {}
    around: dict[tuple[str, str, str], dict[str, list[HourStat]]] = {}
    anywhere: dict[tuple[str, str], dict[str, list[HourStat]]] = {}
    for (kind, network, facility_kind, district, metric), members in groups.items():
        by_city.setdefault((kind, network, facility_kind, metric), {}).update(members)
        any_network.setdefault((kind, facility_kind, metric), {}).update(members)
        around.setdefault((kind, district, metric), {}).update(members)
        anywhere.setdefault((kind, metric), {}).update(members)
    medians: dict[StatKey, dict[int, float]] = {}
    for (kind, network, facility_kind, district, metric), members in groups.items():
        district_wide = len(members) >= min_peers and not city_wide
        peers = members if district_wide else by_city[(kind, network, facility_kind, metric)]
        if len(peers) < min_peers and METRICS[metric].temporality is Temporality.GAUGE:
            peers = any_network[(kind, facility_kind, metric)]  # alone on its network: a level means the same
        if len(peers) < min_peers and limits_of(metric).ambient:
            nearby = around[(kind, district, metric)]
            peers = nearby if len(nearby) >= min_peers and not city_wide else anywhere[(kind, metric)]
        group_medians = peer_medians(peers, min_peers)
        for device_id in members:
            medians[(device_id, metric)] = group_medians
    return medians


class HourVerdict(NamedTuple):
    findings: dict[str, list[Finding]]
    """Per device."""
    scopes: dict[str, Scope]
    """Per device, what was judged: an open flag in a scope without a finding has ended."""
    peerless: list[StatKey]
    """Series whose drift had no peer median to be judged against (too few of their type at their kind of
    facility in the city): no drift flag on them means nothing."""


def judge_hours(
    hourly: Mapping[StatKey, list[HourStat]],
    infos: Mapping[str, DeviceInfo],
    rules: Rules,
    drift_refs: dict[StatKey, Reference],
) -> HourVerdict:
    """Findings and the scopes they were judged in, per device, and the series without peers. ``drift_refs``
    (kept by the caller) holds the reference each ongoing drift was found against."""
    findings: dict[str, list[Finding]] = {}
    scopes: dict[str, Scope] = {}
    peerless: list[StatKey] = []
    plain = {
        key: stuck(stats, key[1], limits_of(key[1]), rules.stuck)
        for key, stats in hourly.items()
        if key[0] in infos and key[1] not in VITALS
    }
    stuck_runs = {key: runs for key, runs in plain.items() if runs}
    medians = peer_groups(hourly, infos, rules.drift.min_peers, stuck_runs)
    everyone = peer_groups(hourly, infos, rules.drift.min_peers, city_wide=True) if stuck_runs else {}
    for (device_id, metric), stats in hourly.items():
        info = infos.get(device_id)
        if info is None or metric in VITALS:
            continue
        scopes.setdefault(device_id, set()).update({(FlagKind.STUCK, metric), (FlagKind.DRIFT, metric)})
        key = (device_id, metric)
        group = medians.get(key)
        drifting = key in drift_refs  # a drift that reached a rest value (a clamp) is still the drift
        limits = limits_of(metric)
        runs = plain[key]
        if group is not None:  # judged again with what the peers show
            peers = None if drifting else group
            # the city's prediction, holding values too; it only ever explains a run the plain pass found
            expected = expected_levels(stats, everyone.get(key, {}), limits) if runs else {}
            runs = stuck(stats, metric, limits, rules.stuck, peers, expected)
        findings.setdefault(device_id, []).extend(runs)
        if limits.fills:  # its own fill cycles: no peers, no reference
            scopes[device_id].add((FlagKind.DRIFT, metric))
            findings[device_id].extend(fill_drift(outside(stats, runs), metric, limits, rules.fill))
            continue
        if limits.peers and not group:
            peerless.append(key)
        if group is None or any(run.end_ms is None for run in runs):  # stuck now: the drift is judged when it ends
            drift_refs.pop(key, None)
            continue
        found, used = drift(outside(stats, runs), group, metric, limits, rules.drift, drift_refs.get(key))
        findings[device_id].extend(found)
        if used is not None and found:
            drift_refs[key] = used  # judged against the reference it was found with while it is in the look-back
        else:
            drift_refs.pop(key, None)
    for (device_id, metric), stats in hourly.items():
        info = infos.get(device_id)
        if metric != "battery" or info is None or info.network is not NetworkClass.NARROWBAND:
            continue
        scopes.setdefault(device_id, set()).add((FlagKind.BATTERY, ""))
        depleting = battery([(s.hour_ms, s.mean) for s in stats], rules.battery)
        if depleting is not None:
            findings.setdefault(device_id, []).append(depleting)
    return HourVerdict(findings, scopes, sorted(peerless))


def drift_references(book: FlagBook, since_ms: int) -> dict[StatKey, Reference]:
    """The references of drift flags open, or ended after ``since_ms`` (still in the look-back), as they were
    written: a restarted worker judges them as the one before it did."""
    found: dict[StatKey, tuple[int, Reference]] = {}
    flags = [*book.open.values(), *(flag for kept in book.closed.values() for flag in kept)]
    for flag in flags:
        if flag.kind is not FlagKind.DRIFT or len(flag.basis) != 3 or not (flag.open or flag.end_ms > since_ms):
            continue
        key = (flag.device, flag.metric)
        if key not in found or found[key][0] < flag.start_ms:
            gain, baseline, scale = flag.basis
            found[key] = (flag.start_ms, (gain, baseline, scale))
    return {key: reference for key, (_, reference) in found.items()}
