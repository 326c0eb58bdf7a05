"""Log output formats: JSON lines carry level, logger, message and the traceback of an exception."""

from __future__ import annotations

import logging

import msgspec
import pytest

from smartcity.logs import JsonFormatter


def _record(message: str, *args: object, exc: BaseException | None = None) -> logging.LogRecord:
    info = (type(exc), exc, exc.__traceback__) if exc is not None else None
    return logging.LogRecord("gateway.deadletter", logging.WARNING, __file__, 1, message, args, info)


def test_json_lines_hold_one_object_with_the_formatted_message() -> None:
    line = JsonFormatter().format(_record("rejected %s: %s", "city/v1/dev/aq-1/reading", 'bad "quote"\nnext'))
    entry = msgspec.json.decode(line)
    assert "\n" not in line
    assert entry["level"] == "WARNING"
    assert entry["logger"] == "gateway.deadletter"
    assert entry["message"] == 'rejected city/v1/dev/aq-1/reading: bad "quote"\nnext'
    assert entry["ts"].endswith("Z")


def test_json_lines_carry_the_traceback() -> None:
    try:
        raise ValueError("boom")
    except ValueError as exc:
        caught = exc
    entry = msgspec.json.decode(JsonFormatter().format(_record("failed", exc=caught)))
    assert "ValueError: boom" in entry["exc"]


@pytest.mark.parametrize("fmt", ["text", "json"])
def test_configure_logging_installs_one_handler(fmt: str) -> None:
    from smartcity.logs import configure_logging

    root = logging.getLogger()
    saved = root.handlers[:], root.level
    try:
        configure_logging("debug", fmt)  # type: ignore[arg-type]
        assert root.level == logging.DEBUG
        assert len(root.handlers) == 1
        assert isinstance(root.handlers[0].formatter, JsonFormatter) == (fmt == "json")
    finally:
        root.handlers[:], root.level = saved[0], saved[1]
