"""The planning API: the city's catalogue and readings over HTTP (FastAPI), started by ``smartcity api``.

``create_app(settings)`` (:mod:`services.api.app`) builds the application; its lifespan owns the InfluxDB client,
the state store (API keys) and the background refresher of the last-value cache. Routes live one module per
resource under :mod:`services.api.routes`.
"""
