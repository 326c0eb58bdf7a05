"""Render the metric registry as Markdown, so the tables in docs/CONTRACT.md come from the code they document.

``python -m smartcity.contract.registry_doc [docs/CONTRACT.md]`` rewrites the text between the markers
``<!-- registry:begin -->`` and ``<!-- registry:end -->``; a unit test fails when the file is out of date.
"""

from __future__ import annotations

from smartcity.city.model import DeviceType
from smartcity.contract.metrics import DEVICE_METRICS, METRICS, MetricSpec
from smartcity.doc_sections import rewrite_main, with_section

BEGIN = "<!-- registry:begin -->"
END = "<!-- registry:end -->"


def _bound(value: float | None) -> str:
    if value is None:
        return ""
    return f"{value:g}" if abs(value) < 1e6 else f"{value:.0e}"


def _range(spec: MetricSpec) -> str:
    if spec.max_length:
        return f"at most {spec.max_length} characters"
    if spec.minimum is None and spec.maximum is None:
        return ""
    return f"{_bound(spec.minimum)} .. {_bound(spec.maximum)}"


def render() -> str:
    """The metric table and the device-type table."""
    lines = [
        "| metric | unit | type | temporality | valid range | measurement | field | description |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for spec in METRICS.values():
        unit = f"`{spec.unit}`" if spec.unit else ""
        lines.append(
            f"| `{spec.name}` | {unit} | {spec.kind} | {spec.temporality} | {_range(spec)} | `{spec.measurement}` "
            f"| `{spec.field}` "
            f"| {spec.description} |"
        )
    lines += ["", "| device type | metrics |", "|---|---|"]
    for device_type in DeviceType:
        names = ", ".join(f"`{name}`" for name in DEVICE_METRICS[device_type])
        lines.append(f"| `{device_type}` | {names} |")
    return "\n".join(lines)


def updated(document: str) -> str:
    """``document`` with the generated tables between the markers."""
    return with_section(document, BEGIN, END, render())


def main(argv: list[str] | None = None) -> int:
    return rewrite_main("docs/CONTRACT.md", updated, argv)


if __name__ == "__main__":
    raise SystemExit(main())
