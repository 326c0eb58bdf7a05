import asyncio
from pathlib import Path

from gateway.metrics import GatewayMetrics
from gateway.observability import HttpEndpoints, serve_http


async def _get(port: int, path: str) -> tuple[str, str]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(f"GET {path} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
    await writer.drain()
    answer = (await reader.read()).decode()
    writer.close()
    await writer.wait_closed()
    head, _, body = answer.partition("\r\n\r\n")
    return head.split("\r\n")[0], body


async def test_metrics_health_and_readiness_over_http(tmp_path: Path) -> None:
    metrics = GatewayMetrics()
    metrics.readings_accepted.inc(3)
    checks = {"broker": "ok", "influxdb": "down"}
    endpoints = HttpEndpoints(metrics.registry, lambda: dict(checks))
    port_file = tmp_path / "spool" / "http.port"
    async with serve_http(endpoints, "127.0.0.1", 0, port_file) as port:
        assert int(port_file.read_text()) == port
        status, body = await _get(port, "/metrics")
        assert status == "HTTP/1.1 200 OK"
        assert "smartcity_gateway_readings_accepted_total 3.0" in body
        assert await _get(port, "/healthz") == ("HTTP/1.1 200 OK", "ok\n")
        assert await _get(port, "/readyz") == ("HTTP/1.1 503 Service Unavailable", "broker: ok\ninfluxdb: down\n")
        checks["influxdb"] = "degraded: 10 points spooled, replaying"
        assert await _get(port, "/readyz") == (
            "HTTP/1.1 200 OK",
            "broker: ok\ninfluxdb: degraded: 10 points spooled, replaying\n",
        )
        checks["influxdb"] = "ok"
        assert (await _get(port, "/readyz"))[0] == "HTTP/1.1 200 OK"
        assert (await _get(port, "/nothing"))[0] == "HTTP/1.1 404 Not Found"


def test_only_get_is_answered() -> None:
    endpoints = HttpEndpoints(GatewayMetrics().registry, dict)
    assert endpoints.answer("POST", "/metrics").startswith(b"HTTP/1.1 405")
