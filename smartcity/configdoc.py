"""Render settings models as Markdown, so docs/CONFIGURATION.md is generated from the code it documents."""

from __future__ import annotations

from collections.abc import Iterator, Sequence

from pydantic import BaseModel
from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined
from pydantic_settings import BaseSettings


def _default(field: FieldInfo) -> str:
    if field.default is PydanticUndefined:
        return "(required)" if field.default_factory is None else "(computed)"
    if field.default is None:
        return ""
    value = getattr(field.default, "value", field.default)
    return f"`{value}`"


def _nested_model(field: FieldInfo) -> type[BaseModel] | None:
    annotation = field.annotation
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    return None


def _rows(model: type[BaseModel], prefix: str, delimiter: str) -> Iterator[tuple[str, str, str]]:
    for name, field in model.model_fields.items():
        nested = _nested_model(field)
        env = f"{prefix}{name.upper()}"
        if nested is not None:
            yield from _rows(nested, env + delimiter, delimiter)
            continue
        description = (field.description or "").replace("|", "\\|").replace("\n", " ")
        yield env, _default(field), description


def render(settings_classes: Sequence[type[BaseSettings]]) -> str:
    """One section per process: every environment variable, its default and what it does."""
    lines = [
        "# Configuration",
        "",
        "Generated from the settings models by `python -m scripts.gen_config_doc`; a test keeps it current.",
        "Every process reads its own environment prefix; nested blocks use `__` (for example",
        "`SMARTCITY_GATEWAY_MQTT__HOST`). Secrets are `SecretStr` and are never logged.",
        "",
    ]
    for cls in settings_classes:
        config = cls.model_config
        prefix = str(config.get("env_prefix") or "")
        delimiter = str(config.get("env_nested_delimiter") or "__")
        title = (cls.__doc__ or cls.__name__).strip().splitlines()[0]
        lines += [f"## {cls.__name__}", "", title, "", "| variable | default | meaning |", "| --- | --- | --- |"]
        rows = _rows(cls, prefix, delimiter)
        lines += [f"| `{env}` | {default} | {description} |" for env, default, description in rows]
        lines.append("")
    return "\n".join(lines)
