"""Write docs/CONFIGURATION.md from the settings models of every process (``python -m scripts.gen_config_doc``)."""

from __future__ import annotations

from pathlib import Path

from pydantic_settings import BaseSettings

from devices.settings import SimulatorSettings
from gateway.settings import GatewaySettings
from grafana_view.push import PushSettings
from services.api.settings import ApiSettings
from services.quality.settings import QualitySettings
from services.rollup.settings import RollupSettings
from smartcity.configdoc import render
from smartcity.up import UpSettings

SETTINGS: list[type[BaseSettings]] = [
    UpSettings,
    GatewaySettings,
    SimulatorSettings,
    ApiSettings,
    RollupSettings,
    QualitySettings,
    PushSettings,
]
DOC = Path(__file__).resolve().parents[1] / "docs" / "CONFIGURATION.md"


def main() -> None:
    DOC.write_text(render(SETTINGS), encoding="utf-8")


if __name__ == "__main__":
    main()
