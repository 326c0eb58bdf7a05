"""InfluxDB adapter: the v1 HTTP API client (:mod:`smartcity.influx.client`), its errors
(:mod:`smartcity.influx.errors`) and line-protocol encoding."""
