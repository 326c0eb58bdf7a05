"""``smartcity deploy ...``: what a container deployment (docker compose, Kubernetes) runs around the processes.

- ``broker``: the init step of the broker. Writes the password file and ACL derived from the city and the
  deployment secret (as ``smartcity city credentials``) and a ``mosquitto.conf`` that uses them
  (:func:`smartcity.brokerconfig.deployed_config`).
- ``with-password``: starts a process with its broker password in its environment, derived from the deployment
  secret, so the secret is the only credential an operator keeps (``.env`` or a Kubernetes Secret) and no
  derived password is written anywhere. It replaces itself with the command (``exec``): signals reach it directly.

Bad input (a missing or weak secret file, an unknown account, a malformed variable name, no command) ends with a
message on stderr and exit code 1.
"""

from __future__ import annotations

import os
import re
from pathlib import Path, PurePosixPath
from typing import Annotated

import typer
from rich.console import Console

from smartcity.brokerconfig import deployed_config
from smartcity.city.credentials import (
    CredentialsError,
    HashScheme,
    ServiceAccount,
    read_or_create_secret,
    service_password,
    write_credentials,
)
from smartcity.city.load import CityFileError, load_city

app = typer.Typer(help="Init steps and wrappers of a container deployment (compose, Kubernetes).", no_args_is_help=True)

_VARIABLE = re.compile(r"[A-Z_][A-Z0-9_]*")


def _fail(message: str) -> typer.Exit:
    Console(stderr=True, highlight=False).print(f"[red]error:[/red] {message}", soft_wrap=True)
    return typer.Exit(code=1)


def _secret(path: Path) -> bytes:
    if not path.is_file():
        raise _fail(f"secret file {path} does not exist (a deployment provides it: SMARTCITY_SECRET in .env)")
    try:
        return read_or_create_secret(path)
    except CredentialsError as exc:
        raise _fail(str(exc)) from None


SecretFile = Annotated[Path, typer.Option("--secret-file", help="the deployment secret (never created here)")]


@app.command()
def broker(
    city: Annotated[Path, typer.Argument(help="city file (JSON)")],
    secret_file: SecretFile,
    out: Annotated[Path, typer.Option("--out", "-o", help="directory for passwd, acl and mosquitto.conf")],
    data_dir: Annotated[str, typer.Option(help="the broker's persistence directory, as the broker sees it")],
    config_dir: Annotated[str | None, typer.Option(help="OUT as the broker sees it (default: the same path)")] = None,
    topic_root: Annotated[str, typer.Option(help="first level of every topic")] = "city",
    port: Annotated[int, typer.Option(min=1, max=65535, help="the broker's MQTT port")] = 1883,
    hash_scheme: Annotated[
        HashScheme, typer.Option("--hash", help="pbkdf2 ($7$) or sha512 ($6$, ~14x faster for big cities)")
    ] = HashScheme.PBKDF2,
) -> None:
    """Write the broker's password file, ACL and mosquitto.conf for a deployed broker."""
    secret = _secret(secret_file)
    try:
        loaded = load_city(city)
    except FileNotFoundError:
        raise _fail(f"city file {city} does not exist") from None
    except CityFileError as exc:
        raise _fail(str(exc)) from None
    try:
        files = write_credentials(loaded, secret, out, topic_root=topic_root, scheme=hash_scheme)
        conf = out / "mosquitto.conf"
        conf.write_text(
            deployed_config(PurePosixPath(config_dir or str(out)), PurePosixPath(data_dir), port=port),
            encoding="utf-8",
        )
    except (CredentialsError, ValueError) as exc:
        raise _fail(str(exc)) from None
    except OSError as exc:
        raise _fail(f"cannot write the broker's files to {out}: {exc.strerror or exc}") from None
    typer.echo(
        f"wrote {files.password_file} ({len(loaded.devices) + len(ServiceAccount):,} accounts), "
        f"{files.acl_file} and {conf}"
    )


@app.command(
    "with-password",
    context_settings={"allow_extra_args": True, "ignore_unknown_options": True},
)
def with_password(
    ctx: typer.Context,
    account: Annotated[str, typer.Argument(help="service account: gateway, api or netserver")],
    variable: Annotated[str, typer.Argument(help="variable to set, e.g. SMARTCITY_GATEWAY_MQTT__PASSWORD")],
    secret_file: SecretFile,
) -> None:
    """Run the command after `--` with VARIABLE set to ACCOUNT's broker password (derived from the secret)."""
    accounts = [member.value for member in ServiceAccount]
    if account not in accounts:
        raise _fail(f"unknown service account {account!r}: one of {', '.join(accounts)}")
    if not _VARIABLE.fullmatch(variable):
        raise _fail(f"{variable!r} is not an environment variable name (upper case, digits, _)")
    command = list(ctx.args)
    if not command:
        raise _fail("no command given: smartcity deploy with-password ACCOUNT VARIABLE --secret-file FILE -- COMMAND")
    environment = {**os.environ, variable: service_password(_secret(secret_file), account)}
    try:
        os.execvpe(command[0], command, environment)
    except OSError as exc:
        raise _fail(f"cannot run {command[0]}: {exc.strerror or exc}") from None
