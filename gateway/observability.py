"""The gateway's ``/metrics``, ``/healthz`` and ``/readyz``: the core's minimal HTTP server
(:mod:`smartcity.httpendpoints`), shared with the other worker processes."""

from __future__ import annotations

from smartcity.httpendpoints import HttpEndpoints, serve_http

__all__ = ["HttpEndpoints", "serve_http"]
