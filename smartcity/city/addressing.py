"""The city's IPv6 address plan.

- One ULA /48 per deployment (RFC 4193): ``fd`` followed by a 40-bit global id derived from the city seed.
- One /64 per district: subnet id ``index + 1``; subnet 0 is kept for the platform's own hosts (broker, gateway).
- Interface ids stable and opaque in the manner of RFC 7217: the first 64 bits of
  ``SHA-256(prefix || device id || DAD counter || secret)``, the secret derived from the seed. They are neither
  sequential nor MAC-derived (RFC 8064), so an address reveals nothing about the device or its neighbours, and the
  same device always gets the same address in the same district.
- Interface ids reserved by RFC 5453 are skipped and a clash inside a /64 is resolved by bumping the DAD counter,
  exactly as a host would after a failed Duplicate Address Detection.
"""

from __future__ import annotations

import hashlib
from ipaddress import IPv6Address, IPv6Network

ULA_PREFIX_LEN = 48
SUBNET_PREFIX_LEN = 64
MAX_DAD_ATTEMPTS = 16
"""RFC 7217 section 6 suggests IDGEN_RETRIES = 3; a generous bound keeps a pathological plan from looping."""

_SUBNET_ROUTER_ANYCAST = 0
_IANA_ETHERNET_BLOCK = (0x0200_5EFF_FE00_0000, 0x0200_5EFF_FEFF_FFFF)
"""RFC 5453: 0200:5EFF:FE00:0000-0200:5EFF:FEFF:FFFF (IANA Ethernet block, incl. Proxy Mobile IPv6 ...5213)."""
_RESERVED_SUBNET_ANYCAST = (0xFDFF_FFFF_FFFF_FF80, 0xFDFF_FFFF_FFFF_FFFF)
"""RFC 2526 / RFC 5453: the last 128 interface ids are reserved subnet anycast addresses."""


class AddressPlanError(ValueError):
    """An address plan that cannot be built (bad prefix length, district index out of range, exhausted retries)."""


def _seed_bytes(seed: int) -> bytes:
    return seed.to_bytes(16, "big", signed=True)


def ula_prefix(seed: int) -> IPv6Network:
    """The deployment's ULA /48: ``fd`` + a 40-bit global id taken from SHA-256 of the seed.

    RFC 4193 asks for a pseudo-random global id so that two sites rarely collide when they merge; a hash of the
    city seed is pseudo-random and keeps generation reproducible.
    """
    global_id = int.from_bytes(hashlib.sha256(b"smartcity/ula/" + _seed_bytes(seed)).digest()[:5], "big")
    network = (0xFD << 120) | (global_id << 80)
    return IPv6Network((network, ULA_PREFIX_LEN))


def address_secret(seed: int) -> bytes:
    """The RFC 7217 secret key of a deployment (derived from the seed, so the plan is reproducible)."""
    return hashlib.sha256(b"smartcity/rfc7217-secret/" + _seed_bytes(seed)).digest()


def district_prefix(ula: IPv6Network, index: int) -> IPv6Network:
    """The /64 of the district at ``index`` (0-based) inside the ULA /48: subnet id ``index + 1``."""
    if ula.prefixlen != ULA_PREFIX_LEN:
        raise AddressPlanError(f"the deployment prefix must be a /{ULA_PREFIX_LEN}, got {ula}")
    subnet_id = index + 1
    if not 0 < subnet_id < 1 << 16:
        raise AddressPlanError(f"district index {index} does not fit the 16-bit subnet id")
    return IPv6Network((int(ula.network_address) | (subnet_id << 64), SUBNET_PREFIX_LEN))


def is_reserved_iid(iid: int) -> bool:
    """True for interface ids a host must not use (RFC 5453): subnet-router anycast, the IANA Ethernet block,
    reserved subnet anycast."""
    return (
        iid == _SUBNET_ROUTER_ANYCAST
        or _IANA_ETHERNET_BLOCK[0] <= iid <= _IANA_ETHERNET_BLOCK[1]
        or _RESERVED_SUBNET_ANYCAST[0] <= iid <= _RESERVED_SUBNET_ANYCAST[1]
    )


def opaque_iid(prefix: IPv6Network, device_id: str, dad_counter: int, secret: bytes) -> int:
    """RFC 7217 ``F(Prefix, Net_Iface, Network_ID, DAD_Counter, secret_key)`` with SHA-256, truncated to 64 bits.

    The device id stands for the interface identity; there is no Network_ID (one link per district).
    """
    return _iid(prefix.network_address.packed[:8], device_id, dad_counter, secret)


def _iid(prefix_bytes: bytes, device_id: str, dad_counter: int, secret: bytes) -> int:
    digest = hashlib.sha256(prefix_bytes + device_id.encode() + dad_counter.to_bytes(1, "big") + secret).digest()
    return int.from_bytes(digest[:8], "big")


class SubnetAllocator:
    """Hands out stable opaque addresses inside one /64, skipping reserved interface ids and resolving clashes
    with the DAD counter. Allocation order only matters when two devices clash (probability ~n^2 / 2^65)."""

    def __init__(self, prefix: IPv6Network, secret: bytes) -> None:
        if prefix.prefixlen != SUBNET_PREFIX_LEN:
            raise AddressPlanError(f"a district prefix must be a /{SUBNET_PREFIX_LEN}, got {prefix}")
        self.prefix = prefix
        self._secret = secret
        self._base = int(prefix.network_address)
        self._prefix_bytes = prefix.network_address.packed[:8]
        self._used: set[int] = set()

    def reserve(self, address: IPv6Address) -> None:
        """Mark an address as taken (e.g. one written by hand) so no generated device gets it."""
        self._used.add(int(address) & 0xFFFF_FFFF_FFFF_FFFF)

    def allocate(self, device_id: str) -> IPv6Address:
        for dad_counter in range(MAX_DAD_ATTEMPTS):
            iid = _iid(self._prefix_bytes, device_id, dad_counter, self._secret)
            if not is_reserved_iid(iid) and iid not in self._used:
                self._used.add(iid)
                return IPv6Address(self._base | iid)
        raise AddressPlanError(
            f"no free interface id for {device_id!r} in {self.prefix} after {MAX_DAD_ATTEMPTS} tries"
        )
