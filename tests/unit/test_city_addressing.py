"""The IPv6 address plan: ULA /48 from the seed, a /64 per district, opaque stable interface ids."""

from __future__ import annotations

import hashlib
import itertools
import random
from ipaddress import IPv6Address, IPv6Network

import pytest
from pydantic import TypeAdapter, ValidationError

from smartcity.city.addressing import (
    AddressPlanError,
    SubnetAllocator,
    address_secret,
    district_prefix,
    is_reserved_iid,
    opaque_iid,
    ula_prefix,
)
from smartcity.city.generate import generate_city
from smartcity.city.model import City, FastIPv6Address


@pytest.fixture(scope="module")
def big_city() -> City:
    return generate_city(devices=100_000, seed=7)


def test_ula_prefix_is_an_rfc4193_48_derived_from_the_seed() -> None:
    prefix = ula_prefix(7)
    assert prefix.prefixlen == 48
    assert prefix.subnet_of(IPv6Network("fd00::/8"))
    global_id = int(prefix.network_address) >> 80 & (1 << 40) - 1
    expected = int.from_bytes(hashlib.sha256(b"smartcity/ula/" + (7).to_bytes(16, "big")).digest()[:5], "big")
    assert global_id == expected
    assert ula_prefix(7) == prefix
    assert ula_prefix(8) != prefix


def test_district_prefixes_are_64s_inside_the_48() -> None:
    ula = ula_prefix(1)
    prefixes = [district_prefix(ula, i) for i in range(20)]
    assert len(set(prefixes)) == 20
    assert all(p.prefixlen == 64 and p.subnet_of(ula) for p in prefixes)
    assert district_prefix(ula, 0) == IPv6Network((int(ula.network_address) | 1 << 64, 64))


def test_district_prefix_refuses_a_bad_plan() -> None:
    with pytest.raises(AddressPlanError, match="/48"):
        district_prefix(IPv6Network("fd00::/56"), 0)
    with pytest.raises(AddressPlanError, match="16-bit"):
        district_prefix(ula_prefix(1), 65_535)


def test_interface_ids_are_stable_and_opaque() -> None:
    prefix, secret = district_prefix(ula_prefix(1), 0), address_secret(1)
    first = SubnetAllocator(prefix, secret)
    again = SubnetAllocator(prefix, secret)
    ids = [f"sl-{n:06d}" for n in range(1, 200)]
    addresses = [first.allocate(i) for i in ids]
    assert addresses == [again.allocate(i) for i in ids]
    iids = [int(a) & (1 << 64) - 1 for a in addresses]
    # not sequential: neighbouring devices do not get neighbouring addresses
    assert all(abs(b - a) > 1 << 32 for a, b in itertools.pairwise(iids))
    # not EUI-64 / MAC derived: no ff:fe in the middle
    assert not all((iid >> 24) & 0xFFFF == 0xFFFE for iid in iids)
    # keyed: another secret or another prefix gives other ids
    assert SubnetAllocator(prefix, address_secret(2)).allocate(ids[0]) != addresses[0]
    assert opaque_iid(district_prefix(ula_prefix(1), 1), ids[0], 0, secret) != iids[0]


@pytest.mark.parametrize(
    ("iid", "reserved"),
    [
        (0, True),
        (0x0200_5EFF_FE00_0000, True),
        (0x0200_5EFF_FE00_5213, True),
        (0x0200_5EFF_FEFF_FFFF, True),
        (0xFDFF_FFFF_FFFF_FF80, True),
        (0xFDFF_FFFF_FFFF_FFFF, True),
        (1, False),
        (0x0200_5EFF_FF00_0000, False),
        (0xFDFF_FFFF_FFFF_FF7F, False),
        (0xFFFF_FFFF_FFFF_FFFF, False),
    ],
)
def test_rfc5453_reserved_interface_ids(iid: int, reserved: bool) -> None:
    assert is_reserved_iid(iid) is reserved


def test_a_clash_is_resolved_with_the_dad_counter() -> None:
    prefix, secret = district_prefix(ula_prefix(3), 4), address_secret(3)
    taken = IPv6Address(int(prefix.network_address) | opaque_iid(prefix, "aq-000001", 0, secret))
    allocator = SubnetAllocator(prefix, secret)
    allocator.reserve(taken)
    address = allocator.allocate("aq-000001")
    assert address != taken
    assert int(address) & (1 << 64) - 1 == opaque_iid(prefix, "aq-000001", 1, secret)


def test_100k_devices_have_unique_addresses_inside_their_district(big_city: City) -> None:
    assert len(big_city.devices) == 100_000
    assert len({d.ipv6 for d in big_city.devices}) == 100_000
    prefixes = {d.id: d.prefix for d in big_city.districts}
    assert all(d.ipv6 in prefixes[d.district_id] for d in big_city.devices)
    assert not any(is_reserved_iid(int(d.ipv6) & (1 << 64) - 1) for d in big_city.devices)
    assert all(p.subnet_of(big_city.ula_prefix) for p in prefixes.values())


def test_the_fast_ipv6_field_reads_and_writes_like_ipaddress() -> None:
    adapter: TypeAdapter[IPv6Address] = TypeAdapter(FastIPv6Address)
    rng = random.Random(5)
    samples = [IPv6Address(text) for text in ("::", "::1", "1::", "1:0:0:1::1", "fd00:0:1:0:0:1::", "::ffff:1.2.3.4")]
    for _ in range(20_000):  # zero runs of every length and position, the cases RFC 5952 compression cares about
        hextets = [rng.choice((0, 0, 0, rng.randrange(16), rng.randrange(1 << 16))) for _ in range(8)]
        samples.append(IPv6Address(sum(h << (16 * (7 - i)) for i, h in enumerate(hextets))))
    for address in samples:
        text = adapter.dump_json(address).decode().strip('"')
        assert text == str(address)
        assert adapter.validate_json(f'"{text}"') == address
    assert adapter.validate_python("fe80::1%eth0") == IPv6Address("fe80::1%eth0")  # inet_pton refuses, pydantic parses
    with pytest.raises(ValidationError, match="not a valid IPv6 address"):
        adapter.validate_python("fd00::/64")
