"""Shared test support: helpers that several test areas read, documented in docs/TESTING.md.

- :mod:`tests.support.filled_city`: the session's "filled city" (a generated city with a few simulated days of
  readings in InfluxDB, cached between runs), behind the ``filled_city`` fixture of ``tests/conftest.py``.
- :mod:`tests.support.city_history`: how those readings are made (the simulator's signal model, the contract's
  line-protocol encoder) and which imperfections they carry.
- :mod:`tests.support.point_cache`: the cache file of encoded points, keyed by the code that shapes them.
"""
