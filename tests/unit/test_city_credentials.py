"""Derived passwords, Mosquitto password hashes and the ACL layout (the broker itself: tests/integration)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import stat
from pathlib import Path

import pytest

from smartcity.city.credentials import (
    CredentialsError,
    HashScheme,
    ServiceAccount,
    acl_file,
    device_password,
    mosquitto_hash,
    password_file,
    read_or_create_secret,
    service_password,
    sha512_hash,
    write_credentials,
)
from smartcity.city.generate import generate_city
from smartcity.city.model import City
from smartcity.contract.topics import TopicScheme

SECRET = b"0123456789abcdef0123456789abcdef"


@pytest.fixture(scope="module")
def city() -> City:
    return generate_city(devices=50, seed=2)


def test_device_password_is_the_documented_hmac() -> None:
    expected = base64.urlsafe_b64encode(hmac.new(SECRET, b"smartcity/device/pb-000001", hashlib.sha256).digest())
    assert device_password(SECRET, "pb-000001") == expected.rstrip(b"=").decode()
    assert len(device_password(SECRET, "pb-000001")) == 43


def test_passwords_differ_per_account_and_secret() -> None:
    assert device_password(SECRET, "pb-000001") != device_password(SECRET, "pb-000002")
    assert device_password(SECRET, "pb-000001") != device_password(SECRET + b"x", "pb-000001")
    assert service_password(SECRET, "gateway") != device_password(SECRET, "gateway")
    assert service_password(SECRET, "gateway") != service_password(SECRET, "api")


def test_mosquitto_hash_is_pbkdf2_sha512_in_the_7_format() -> None:
    salt = bytes(range(12))
    text = mosquitto_hash("s3cret", salt, iterations=101)
    marker, iterations, salt_b64, digest_b64 = text.split("$")[1:]
    assert (marker, iterations) == ("7", "101")
    assert base64.b64decode(salt_b64) == salt
    assert base64.b64decode(digest_b64) == hashlib.pbkdf2_hmac("sha512", b"s3cret", salt, 101)


def test_sha512_hash_is_the_6_format() -> None:
    salt = bytes(range(12))
    marker, salt_b64, digest_b64 = sha512_hash("s3cret", salt).split("$")[1:]
    assert marker == "6"
    assert base64.b64decode(salt_b64) == salt
    assert base64.b64decode(digest_b64) == hashlib.sha512(b"s3cret" + salt).digest()


def test_password_file_in_the_faster_scheme(city: City) -> None:
    lines = password_file(city, SECRET, HashScheme.SHA512).splitlines()
    assert len(lines) == len(city.devices) + len(ServiceAccount)
    assert all(line.split(":", 1)[1].startswith("$6$") for line in lines)


def test_password_file_has_every_account_once(city: City) -> None:
    lines = password_file(city, SECRET).splitlines()
    users = [line.split(":", 1)[0] for line in lines]
    assert users == [a.value for a in ServiceAccount] + [d.id for d in city.devices]
    assert all(line.split(":", 1)[1].startswith("$7$101$") for line in lines)


def test_password_file_is_reproducible(city: City) -> None:
    assert password_file(city, SECRET) == password_file(city, SECRET)
    assert password_file(city, SECRET) != password_file(city, SECRET + b"!")


def test_acl_binds_devices_to_their_own_level() -> None:
    lines = acl_file(TopicScheme("metro")).splitlines()
    patterns = [line for line in lines if line.startswith("pattern")]
    assert patterns == [
        "pattern write metro/v1/dev/%u/reading",
        "pattern write metro/v1/dev/%u/senml",
        "pattern write metro/v1/dev/%u/senml-cbor",
        "pattern write metro/v1/dev/%u/status",
        "pattern write metro/v1/dev/%u/birth",
        "pattern write metro/v1/dev/%u/cmd-ack",
        "pattern read metro/v1/dev/%u/cmd",
    ]


def _section(acl: str, user: str) -> list[str]:
    block = acl.split(f"user {user}\n", 1)[1].split("\n\n", 1)[0]
    return [line for line in block.splitlines() if line.startswith("topic")]


def test_service_accounts_have_their_rights_only() -> None:
    acl = acl_file(TopicScheme())
    gateway = _section(acl, "gateway")
    assert "topic read city/v1/dev/+/reading" in gateway
    assert "topic read city/v1/dev/+/cmd-ack" in gateway
    assert "topic write city/v1/sys/dead-letter/+" in gateway
    assert not any(line.endswith("/cmd") for line in gateway)
    api = _section(acl, "api")
    assert "topic write city/v1/dev/+/cmd" in api
    assert not any("reading" in line for line in api)
    netserver = _section(acl, "netserver")
    assert "topic write city/v1/dev/+/senml-cbor" in netserver
    assert "topic read city/v1/dev/+/cmd" in netserver
    assert not any("reading" in line or "birth" in line for line in netserver)


def test_write_credentials_writes_private_files(city: City, tmp_path: Path) -> None:
    files = write_credentials(city, SECRET, tmp_path / "mosquitto", topic_root="metro")
    for path in (files.password_file, files.acl_file):
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert "metro/v1/dev/%u/reading" in files.acl_file.read_text()
    assert len(files.password_file.read_text().splitlines()) == len(city.devices) + len(ServiceAccount)


def test_a_device_named_like_a_service_account_is_refused(city: City, tmp_path: Path) -> None:
    clash = city.model_copy(update={"devices": [city.devices[0].model_copy(update={"id": "gateway"})]})
    with pytest.raises(CredentialsError, match="reserved for service accounts"):
        write_credentials(clash, SECRET, tmp_path)


def test_a_short_secret_is_refused(city: City, tmp_path: Path) -> None:
    with pytest.raises(CredentialsError, match="at least 16 bytes"):
        write_credentials(city, b"short", tmp_path)


def test_secret_file_is_created_once_and_reused(tmp_path: Path) -> None:
    path = tmp_path / "deploy" / "secret"
    first = read_or_create_secret(path)
    assert len(first) == 64
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert read_or_create_secret(path) == first
    path.write_text("  tiny \n")
    with pytest.raises(CredentialsError, match="at least 16 bytes"):
        read_or_create_secret(path)
