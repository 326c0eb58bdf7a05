"""docs/CONFIGURATION.md is generated from the settings models and must not drift from them."""

from __future__ import annotations

from scripts.gen_config_doc import DOC, SETTINGS
from smartcity.configdoc import render


def test_configuration_doc_is_current() -> None:
    expected = render(SETTINGS)
    assert DOC.read_text(encoding="utf-8") == expected, "run: .venv/bin/python -m scripts.gen_config_doc"


def test_every_setting_has_a_documented_environment_variable() -> None:
    text = render(SETTINGS)
    for cls in SETTINGS:
        prefix = str(cls.model_config.get("env_prefix"))
        for name in cls.model_fields:
            assert f"`{prefix}{name.upper()}" in text
