"""Broker credentials from the city model: a Mosquitto password file and ACL file.

Every password is derived from one deployment secret, so whoever holds the secret (the simulator, ``smartcity up``)
can compute any account's password and nothing else needs distributing:

    password = base64url(HMAC-SHA256(secret, "smartcity/device/" + device_id))    (no padding)
    password = base64url(HMAC-SHA256(secret, "smartcity/service/" + account))

The password file holds PBKDF2-SHA512 hashes in the ``$7$`` format that ``mosquitto_passwd`` writes (Mosquitto
2.0), or, with :attr:`HashScheme.SHA512`, salted SHA-512 in the older ``$6$`` format that Mosquitto 2.0 still
accepts: more than ten times faster to write (a 100,000-device city in about one CPU second instead of twelve) and
no weaker here, because every password is a 256-bit random string that no dictionary or brute force can reach. Salts
are derived from the secret too, so the same secret and city always give the same files.

ACL layout (Mosquitto 2.0.11 semantics, checked against the real broker):

- devices: ``pattern`` lines with ``%u`` as the whole device level. A device publishes only under its own level
  (reading, senml, senml-cbor, status, birth, cmd-ack) and receives only its own ``cmd`` topic.
- ``gateway``, ``api``, ``netserver``: ``user`` sections with ``+`` for the device level.
- Mosquitto 2.0.11 grants every SUBSCRIBE, including ``$share/<group>/<filter>``, and applies the ``read`` rules
  to each message it delivers, on the message's own topic. A shared subscription therefore needs no ACL line of
  its own: the gateway's ``read`` rules on the plain topics govern what its ``$share`` group receives.
- The network server may publish for any device rather than only the narrowband ones. Mosquitto scans a user's
  ``topic`` lines one by one for every message; with one line per narrowband device and kind (180,000 lines for
  60,000 devices) the broker needed seconds to start and fell below 200 messages per second. The gateway still
  takes network class, district and facility from its registry, never from the topic.
"""

from __future__ import annotations

import base64
import enum
import hashlib
import hmac
import os
import secrets
from dataclasses import dataclass
from pathlib import Path

from smartcity.city.model import City
from smartcity.contract.topics import UPLINK_KINDS, TopicKind, TopicScheme

PBKDF2_ITERATIONS = 101
"""What ``mosquitto_passwd`` 2.0 uses. The passwords are 256-bit random strings, so a slow hash adds no
protection, while every CONNECT of 10,000 simulated devices pays for it in the broker."""
SALT_BYTES = 12
MIN_SECRET_BYTES = 16


class HashScheme(enum.StrEnum):
    """Password-file hash formats Mosquitto 2.0 accepts."""

    PBKDF2 = "pbkdf2"
    """``$7$``: PBKDF2-SHA512, what ``mosquitto_passwd`` 2.0 writes."""
    SHA512 = "sha512"
    """``$6$``: one salted SHA-512, Mosquitto 1.x's format."""


class ServiceAccount(enum.StrEnum):
    """Broker accounts of the platform's own processes (usernames)."""

    GATEWAY = "gateway"
    API = "api"
    NETSERVER = "netserver"


class CredentialsError(ValueError):
    """Credentials that cannot be written: a weak secret, a device id that clashes with a service account."""


def _derive(secret: bytes, label: str) -> bytes:
    return hmac.new(secret, label.encode(), hashlib.sha256).digest()


def _b64url(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def device_password(secret: bytes, device_id: str) -> str:
    """The MQTT password of a device: base64url of HMAC-SHA256(secret, "smartcity/device/" + id), 43 chars."""
    return _b64url(_derive(secret, f"smartcity/device/{device_id}"))


def service_password(secret: bytes, account: str) -> str:
    """The MQTT password of a service account (``gateway``, ``api``, ``netserver`` or another name)."""
    return _b64url(_derive(secret, f"smartcity/service/{account}"))


def mosquitto_hash(password: str, salt: bytes, iterations: int = PBKDF2_ITERATIONS) -> str:
    """A password-file hash as ``mosquitto_passwd`` 2.0 writes it: ``$7$<iterations>$<salt>$<PBKDF2-SHA512>``,
    salt and digest in standard base64."""
    digest = hashlib.pbkdf2_hmac("sha512", password.encode(), salt, iterations)
    return f"$7${iterations}${base64.b64encode(salt).decode()}${base64.b64encode(digest).decode()}"


def sha512_hash(password: str, salt: bytes) -> str:
    """A ``$6$<salt>$<SHA-512(password + salt)>`` hash (standard base64), Mosquitto 1.x's password-file format."""
    digest = hashlib.sha512(password.encode() + salt).digest()
    return f"$6${base64.b64encode(salt).decode()}${base64.b64encode(digest).decode()}"


def _salt(secret: bytes, username: str) -> bytes:
    return _derive(secret, f"smartcity/salt/{username}")[:SALT_BYTES]


def password_file(city: City, secret: bytes, scheme: HashScheme = HashScheme.PBKDF2) -> str:
    """The Mosquitto password file: service accounts first, then every device in city order."""
    hashed = mosquitto_hash if scheme is HashScheme.PBKDF2 else sha512_hash
    lines = [f"{a}:{hashed(service_password(secret, a), _salt(secret, a))}" for a in ServiceAccount]
    lines += [f"{d.id}:{hashed(device_password(secret, d.id), _salt(secret, d.id))}" for d in city.devices]
    return "\n".join(lines) + "\n"


def acl_file(topics: TopicScheme) -> str:
    """The Mosquitto ACL file. It does not depend on the devices: ``%u`` binds each device to its own level."""
    # %u stands for the whole device level (the username); device_filter() puts it there unchecked
    own = [f"pattern write {topics.device_filter(kind, '%u')}" for kind in UPLINK_KINDS]
    any_device = {kind: topics.device_filter(kind) for kind in TopicKind}
    lines = [
        "# Written by `smartcity city credentials`: do not edit, regenerate (see docs/CITY.md).",
        "# Devices (username = device id): publish only under their own level, read only their own commands.",
        *own,
        f"pattern read {topics.device_filter(TopicKind.COMMAND, '%u')}",
        "",
        "# Ingest gateway: every device's uplink (also through $share/<group>/... subscriptions), dead letters.",
        f"user {ServiceAccount.GATEWAY}",
        *(f"topic read {any_device[kind]}" for kind in TopicKind if kind is not TopicKind.COMMAND),
        f"topic write {topics.dead_letter_filter()}",
        "topic read $SYS/#",
        "",
        "# Planning API (and operators' tools on its account): sends commands, follows status, birth, command acks",
        "# and the live dead letters (their durable record is the dead_letters measurement in InfluxDB).",
        f"user {ServiceAccount.API}",
        f"topic write {any_device[TopicKind.COMMAND]}",
        *(f"topic read {any_device[kind]}" for kind in (TopicKind.STATUS, TopicKind.BIRTH, TopicKind.COMMAND_ACK)),
        f"topic read {topics.dead_letter_filter()}",
        "",
        "# Narrowband network server: SenML packs, status and command acks for its devices; relays their commands.",
        f"user {ServiceAccount.NETSERVER}",
        *(f"topic write {any_device[kind]}" for kind in (TopicKind.SENML, TopicKind.SENML_CBOR, TopicKind.STATUS)),
        f"topic write {any_device[TopicKind.COMMAND_ACK]}",
        f"topic read {any_device[TopicKind.COMMAND]}",
    ]
    return "\n".join(lines) + "\n"


@dataclass(frozen=True, slots=True)
class CredentialFiles:
    password_file: Path
    acl_file: Path


def check_accounts(city: City) -> None:
    """Refuse a city in which a device id equals a service account name (it would share that account)."""
    clashes = sorted({d.id for d in city.devices} & {a.value for a in ServiceAccount})
    if clashes:
        raise CredentialsError(f"device ids {clashes} are reserved for service accounts: rename those devices")


def write_credentials(
    city: City, secret: bytes, out: Path, *, topic_root: str = "city", scheme: HashScheme = HashScheme.PBKDF2
) -> CredentialFiles:
    """Write ``passwd`` and ``acl`` into ``out`` (created if missing), readable by their owner only."""
    if len(secret) < MIN_SECRET_BYTES:
        raise CredentialsError(f"the deployment secret must have at least {MIN_SECRET_BYTES} bytes, got {len(secret)}")
    check_accounts(city)
    out.mkdir(parents=True, exist_ok=True)
    files = CredentialFiles(out / "passwd", out / "acl")
    _write_private(files.password_file, password_file(city, secret, scheme))
    _write_private(files.acl_file, acl_file(TopicScheme(topic_root)))
    return files


def _write_private(path: Path, text: str) -> None:
    # the password file holds hashes of secrets: never world-readable, not even for a moment
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(text)
    path.chmod(0o600)


def read_or_create_secret(path: Path) -> bytes:
    """The deployment secret: the file's content without surrounding whitespace. A missing file is created with
    64 random hex characters, readable by its owner only."""
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        _write_private(path, secrets.token_hex(32) + "\n")
    secret = path.read_bytes().strip()
    if len(secret) < MIN_SECRET_BYTES:
        raise CredentialsError(f"{path}: the secret must have at least {MIN_SECRET_BYTES} bytes, got {len(secret)}")
    return secret
