from pathlib import Path

import pytest
import typer

from services.rollup.settings import RollupSettings
from smartcity.startup import start_process


def test_a_missing_city_file_exits_2_naming_the_variable_that_sets_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("SMARTCITY_ROLLUP_CITY_FILE", str(tmp_path / "nowhere.json"))
    with pytest.raises(typer.Exit) as raised:
        start_process(RollupSettings, None)
    assert raised.value.exit_code == 2
    assert "not found (set SMARTCITY_ROLLUP_CITY_FILE)" in capsys.readouterr().err


def test_a_bad_variable_exits_2(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("SMARTCITY_ROLLUP_LOG_LEVE", "INFO")
    with pytest.raises(typer.Exit) as raised:
        start_process(RollupSettings, None)
    assert raised.value.exit_code == 2
    assert "SMARTCITY_ROLLUP_LOG_LEVE: not a setting" in capsys.readouterr().err
