"""``smartcity city ...``: outputs, exit codes and messages (no tracebacks for bad input)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from smartcity.city.cli import app
from smartcity.city.credentials import device_password, service_password

runner = CliRunner()


@pytest.fixture(scope="module")
def city_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("city") / "city.json"
    result = runner.invoke(app, ["generate", "--devices", "300", "--seed", "9", "--out", str(path)])
    assert result.exit_code == 0, result.output
    return path


def test_generate_writes_the_same_bytes_for_the_same_arguments(city_file: Path, tmp_path: Path) -> None:
    again = tmp_path / "again.json"
    result = runner.invoke(app, ["generate", "--devices", "300", "--seed", "9", "--out", str(again)])
    assert result.exit_code == 0
    assert "300 devices" in result.output
    assert again.read_bytes() == city_file.read_bytes()


def test_generate_refuses_a_bad_count(tmp_path: Path) -> None:
    result = runner.invoke(app, ["generate", "--devices", "0", "--out", str(tmp_path / "c.json")])
    assert result.exit_code != 0
    assert not (tmp_path / "c.json").exists()


def test_show_prints_the_tables(city_file: Path) -> None:
    result = runner.invoke(app, ["show", str(city_file)], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    for title in ("Districts x facility kinds", "Device types x network class", "Devices per facility kind"):
        assert title in result.output
    assert "Old Town" in result.output
    assert "300 devices" in result.output


def test_validate_accepts_a_good_city(city_file: Path) -> None:
    result = runner.invoke(app, ["validate", str(city_file)])
    assert result.exit_code == 0
    assert "valid" in result.output


def test_validate_lists_the_problems(city_file: Path, tmp_path: Path) -> None:
    data = json.loads(city_file.read_text())
    data["devices"][12]["facility_id"] = "cp-0099"
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(data))
    result = runner.invoke(app, ["validate", str(bad)])
    assert result.exit_code == 1
    device_id = data["devices"][12]["id"]
    assert f"devices[12] ({device_id}).facility_id: unknown facility 'cp-0099'" in result.output
    assert "Traceback" not in result.output


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "does not exist"),
        ("{not json", "not valid JSON"),
        ("[1, 2]", "(top level): input should be an object"),
    ],
)
@pytest.mark.parametrize("command", ["show", "validate", "credentials"])
def test_bad_files_get_a_message_and_exit_1(tmp_path: Path, command: str, content: str | None, message: str) -> None:
    path = tmp_path / "city.json"
    if content is not None:
        path.write_text(content)
    result = runner.invoke(app, [command, str(path)])
    assert result.exit_code == 1
    assert message in " ".join(result.output.split())
    assert result.exception is None or isinstance(result.exception, SystemExit)


def test_credentials_and_password_commands(city_file: Path, tmp_path: Path) -> None:
    out = tmp_path / "mosquitto"
    result = runner.invoke(app, ["credentials", str(city_file), "--out", str(out), "--topic-root", "metro"])
    assert result.exit_code == 0, result.output
    assert {p.name for p in out.iterdir()} == {"passwd", "acl", "secret"}
    assert "pattern write metro/v1/dev/%u/reading" in (out / "acl").read_text()
    secret = (out / "secret").read_bytes().strip()
    device_id = json.loads(city_file.read_text())["devices"][0]["id"]
    shown = runner.invoke(app, ["password", device_id, "--secret-file", str(out / "secret")])
    assert shown.output.strip() == device_password(secret, device_id)
    shown = runner.invoke(app, ["password", "gateway", "--secret-file", str(out / "secret")])
    assert shown.output.strip() == service_password(secret, "gateway")


def test_credentials_with_a_missing_secret_file(city_file: Path, tmp_path: Path) -> None:
    result = runner.invoke(
        app, ["credentials", str(city_file), "--out", str(tmp_path), "--secret-file", str(tmp_path / "nope")]
    )
    assert result.exit_code == 1
    assert "does not exist" in result.output


def test_credentials_with_a_given_secret_file(city_file: Path, tmp_path: Path) -> None:
    secret_file = tmp_path / "deployment.secret"
    secret_file.write_text("a-long-enough-deployment-secret\n")
    result = runner.invoke(
        app, ["credentials", str(city_file), "--out", str(tmp_path / "out"), "--secret-file", str(secret_file)]
    )
    assert result.exit_code == 0, result.output
    assert not (tmp_path / "out" / "secret").exists()
    first_user = (tmp_path / "out" / "passwd").read_text().splitlines()[0]
    assert first_user.startswith("gateway:$7$101$")
