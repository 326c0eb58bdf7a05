"""Who may open a connection to whom under a set of Kubernetes NetworkPolicies (ingress rules), worked out the way
the API defines them (networking.k8s.io/v1): a pod that some policy selects for Ingress takes only what one of
those policies' rules allows; a rule allows a peer that one of its ``from`` entries matches (none: every peer)
on one of its ports (none: every port). ``podSelector`` matches pods of the policy's namespace, with
``namespaceSelector`` pods of the namespaces it matches (both in one entry: both must match); ``ipBlock`` matches
addresses outside the cluster (what it does for pod addresses is up to the network plugin, so pods never match
it here: the conservative reading for policies that admit).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

Labels = Mapping[str, str]


@dataclass(frozen=True)
class Peer:
    """A source of connections: a pod (its labels and namespace) or an address outside the cluster."""

    name: str
    labels: Labels = field(default_factory=dict)
    namespace: str | None = None
    address: str | None = None


@dataclass(frozen=True)
class Target:
    name: str
    labels: Labels
    namespace: str


def _matches(selector: Mapping[str, Any] | None, labels: Labels) -> bool:
    if selector is None:
        return False
    for key, value in selector.get("matchLabels", {}).items():
        if labels.get(key) != value:
            return False
    for expression in selector.get("matchExpressions", []):
        key, operator, values = expression["key"], expression["operator"], expression.get("values", [])
        present = key in labels
        ok = {
            "In": present and labels.get(key) in values,
            "NotIn": not present or labels.get(key) not in values,
            "Exists": present,
            "DoesNotExist": not present,
        }[operator]
        if not ok:
            return False
    return True


def _namespace_labels(namespace: str) -> Labels:
    return {"kubernetes.io/metadata.name": namespace}


def _peer_matches(entry: Mapping[str, Any], peer: Peer, policy_namespace: str) -> bool:
    if "ipBlock" in entry:
        if peer.address is None:
            return False
        address = ipaddress.ip_address(peer.address)
        block = entry["ipBlock"]
        cidr = ipaddress.ip_network(block["cidr"])
        if address.version != cidr.version or address not in cidr:
            return False
        return not any(
            address in ipaddress.ip_network(excluded)
            for excluded in block.get("except", [])
            if ipaddress.ip_network(excluded).version == address.version
        )
    if peer.namespace is None:
        return False
    if "namespaceSelector" in entry:
        if not _matches(entry["namespaceSelector"], _namespace_labels(peer.namespace)):
            return False
        return "podSelector" not in entry or _matches(entry["podSelector"], peer.labels)
    return peer.namespace == policy_namespace and _matches(entry["podSelector"], peer.labels)


def _port_matches(entry: Mapping[str, Any], port: int) -> bool:
    return entry.get("protocol", "TCP") == "TCP" and entry.get("port") == port


def allowed(policies: Sequence[Mapping[str, Any]], peer: Peer, target: Target, port: int) -> bool:
    """Whether ``peer`` may connect to ``target`` on TCP ``port``."""
    selecting = [
        policy
        for policy in policies
        if policy["metadata"].get("namespace", target.namespace) == target.namespace
        and "Ingress" in policy["spec"].get("policyTypes", ["Ingress"])
        and _matches(policy["spec"]["podSelector"], target.labels)
    ]
    if not selecting:
        return True  # not isolated
    for policy in selecting:
        namespace = policy["metadata"].get("namespace", target.namespace)
        for rule in policy["spec"].get("ingress", []):
            ports = rule.get("ports")
            if ports and not any(_port_matches(entry, port) for entry in ports):
                continue
            sources = rule.get("from")
            if not sources or any(_peer_matches(entry, peer, namespace) for entry in sources):
                return True
    return False
