"""``smartcity city ...`` commands: generate, show, validate, upgrade, credentials, password.

Every failure (missing file, bad JSON, invalid city, weak secret) ends with a message on stderr and exit code 1,
never a traceback.
"""

from __future__ import annotations

import os
import signal
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from smartcity.city.credentials import (
    CredentialsError,
    HashScheme,
    ServiceAccount,
    device_password,
    read_or_create_secret,
    service_password,
    write_credentials,
)
from smartcity.city.generate import generate_city
from smartcity.city.load import CityFileError, dump_city, load_city
from smartcity.city.model import DEFAULT_TIMEZONE, SCHEMA_VERSION, City
from smartcity.city.summary import print_summary

app = typer.Typer(help="Generate, inspect and validate city models; derive broker credentials.", no_args_is_help=True)

CityArg = Annotated[Path, typer.Argument(help="city file (JSON), e.g. from `smartcity city generate`")]


def _fail(message: str) -> typer.Exit:
    Console(stderr=True, highlight=False).print(f"[red]error:[/red] {message}", soft_wrap=True)
    return typer.Exit(code=1)


def _load(path: Path) -> City:
    try:
        return load_city(path)
    except FileNotFoundError:
        raise _fail(f"city file {path} does not exist (create one: smartcity city generate --out {path})") from None
    except CityFileError as exc:
        raise _fail(str(exc)) from None


@app.command()
def generate(
    out: Annotated[Path, typer.Option("--out", "-o", help="where to write the city file")] = Path("city.json"),
    devices: Annotated[int, typer.Option(min=1, help="exact number of devices")] = 1000,
    seed: Annotated[int, typer.Option(help="same seed and arguments = same bytes")] = 7,
    name: Annotated[str, typer.Option(help="city name")] = "Demo City",
    districts: Annotated[int | None, typer.Option(min=1, help="number of districts (default: by population)")] = None,
    timezone: Annotated[str, typer.Option(help="IANA time zone of the city")] = DEFAULT_TIMEZONE,
) -> None:
    """Generate a realistic city (districts, facilities, devices with IPv6 addresses) deterministically."""
    try:
        city = generate_city(devices=devices, seed=seed, name=name, districts=districts, timezone=timezone)
    except ValueError as exc:
        raise _fail(str(exc)) from None
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_bytes(dump_city(city))
    except OSError as exc:
        raise _fail(f"cannot write {out}: {exc.strerror or exc}") from None
    typer.echo(
        f"wrote {out}: {len(city.districts)} districts, {len(city.facilities):,} facilities, "
        f"{len(city.devices):,} devices, {city.ula_prefix}"
    )


@app.command()
def show(city: CityArg) -> None:
    """Print a summary: districts x facility kinds, device types x network class, facility kinds x device types."""
    print_summary(_load(city))


@app.command()
def validate(city: CityArg) -> None:
    """Check a city file (also a hand-written one); list every problem with the path of the bad element."""
    loaded = _load(city)
    typer.echo(
        f"{city}: valid ({len(loaded.districts)} districts, {len(loaded.facilities):,} facilities, "
        f"{len(loaded.devices):,} devices)"
    )
    if loaded.upgraded_from is not None:
        typer.echo(_upgrade_note(city, loaded))


def _upgrade_note(path: Path, city: City) -> str:
    return (
        f"{path}: upgraded from schema version {city.upgraded_from} to {SCHEMA_VERSION} in memory: time zone "
        f"{city.timezone}, {len(city.departments)} default departments, building floor areas estimated from "
        f"capacity; the file is unchanged (`smartcity city upgrade {path}` rewrites it)"
    )


@app.command()
def upgrade(
    city: CityArg,
    out: Annotated[Path | None, typer.Option("--out", "-o", help="where to write it (default: in place)")] = None,
) -> None:
    """Rewrite an older city file in the current schema version (defaults filled in as `validate` reports)."""
    loaded = _load(city)
    target = out or city
    if loaded.upgraded_from is None and target == city:
        typer.echo(f"{city}: already schema version {SCHEMA_VERSION}; nothing to do")
        return
    try:
        target.write_bytes(dump_city(loaded))
    except OSError as exc:
        raise _fail(f"cannot write {target}: {exc.strerror or exc}") from None
    typer.echo(f"wrote {target}: schema version {SCHEMA_VERSION}")


SecretOption = Annotated[
    Path | None,
    typer.Option("--secret-file", help="deployment secret (default: OUT/secret, created when missing)"),
]


@app.command()
def credentials(
    city: CityArg,
    out: Annotated[Path, typer.Option("--out", "-o", help="directory for passwd and acl")] = Path("deploy/mosquitto"),
    secret_file: SecretOption = None,
    topic_root: Annotated[str, typer.Option(help="first level of every topic")] = "city",
    hash_scheme: Annotated[
        HashScheme,
        typer.Option("--hash", help="pbkdf2 ($7$, as mosquitto_passwd) or sha512 ($6$, ~14x faster for big cities)"),
    ] = HashScheme.PBKDF2,
    reload_broker: Annotated[
        int | None,
        typer.Option(
            "--reload-broker",
            metavar="PID",
            help="then send SIGHUP to the Mosquitto with this PID: it re-reads both files, so devices added to the "
            "city can connect and removed ones cannot, without a restart",
        ),
    ] = None,
) -> None:
    """Write a Mosquitto password file and ACL file: one account per device plus gateway, api and netserver."""
    loaded = _load(city)
    secret_path = secret_file or out / "secret"
    if secret_file is not None and not secret_file.exists():
        raise _fail(f"secret file {secret_file} does not exist (omit --secret-file to create one in {out})")
    try:
        secret = read_or_create_secret(secret_path)
        files = write_credentials(loaded, secret, out, topic_root=topic_root, scheme=hash_scheme)
    except (CredentialsError, ValueError) as exc:
        raise _fail(str(exc)) from None
    except OSError as exc:
        raise _fail(f"cannot write credentials to {out}: {exc.strerror or exc}") from None
    typer.echo(
        f"wrote {files.password_file} ({len(loaded.devices) + len(ServiceAccount):,} accounts) and {files.acl_file}; "
        f"passwords derive from {secret_path} (keep it private; `smartcity city password NAME` prints one)"
    )
    if reload_broker is not None:
        try:
            os.kill(reload_broker, signal.SIGHUP)
        except ProcessLookupError:
            raise _fail(f"--reload-broker {reload_broker}: no such process (the files are written)") from None
        except PermissionError:
            raise _fail(f"--reload-broker {reload_broker}: not allowed to signal it (the files are written)") from None
        typer.echo(f"sent SIGHUP to Mosquitto (PID {reload_broker}): it re-reads {files.password_file.name} and acl")


@app.command()
def password(
    account: Annotated[str, typer.Argument(help="a device id or a service account (gateway, api, netserver)")],
    secret_file: Annotated[Path, typer.Option("--secret-file", help="deployment secret")] = Path(
        "deploy/mosquitto/secret"
    ),
) -> None:
    """Print the MQTT password of one account, derived from the deployment secret."""
    if not secret_file.exists():
        raise _fail(f"secret file {secret_file} does not exist (`smartcity city credentials` creates it)")
    try:
        secret = read_or_create_secret(secret_file)
    except CredentialsError as exc:
        raise _fail(str(exc)) from None
    services = {a.value for a in ServiceAccount}
    typer.echo(service_password(secret, account) if account in services else device_password(secret, account))
