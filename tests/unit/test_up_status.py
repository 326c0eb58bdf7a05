"""The status of `smartcity up`: rows for the live table and one plain line for logs and pipes."""

from __future__ import annotations

from smartcity.up_status import StatusLine


def test_rows_show_totals_rates_and_series() -> None:
    line = StatusLine(
        elapsed_s=12.4,
        totals={"received": 12_345, "points written": 24_690, "dead-lettered": 0, "spooled now": 7},
        rates={"received": 350.2, "points written": 700.0, "dead-lettered": 0.0},
        series=1_234,
    )
    assert line.rows() == [
        ("received", "12,345 (350/s)"),
        ("points written", "24,690 (700/s)"),
        ("dead-lettered", "0 (0.0/s)"),
        ("spooled now", "7"),
        ("series in InfluxDB", "1,234"),
    ]
    assert line.plain() == (
        "up 12 s: received 12,345 (350/s), points written 24,690 (700/s), dead-lettered 0 (0.0/s), spooled now 7, "
        "series in InfluxDB 1,234"
    )


def test_a_gateway_that_does_not_answer_leaves_only_the_database_row() -> None:
    assert StatusLine(elapsed_s=0, totals={}, rates={}, series=None).rows() == [("series in InfluxDB", "-")]
