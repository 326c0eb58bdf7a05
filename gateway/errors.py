"""What can go wrong inside the gateway, sorted by what the gateway does about it. Bad *input* is never an
exception here: it becomes a dead letter (:mod:`gateway.deadletter`). InfluxDB's answers are translated once, in
:mod:`smartcity.influx.client` (:mod:`smartcity.influx.errors`); this tree is what the gateway's own parts raise::

    GatewayError
    ├── BrokerError      the broker refused us, or the connection failed or was lost: reconnect with backoff
    ├── StoreDown        InfluxDB kept failing for the whole retry window: spool the batch
    └── SpoolError       the spool could not store, read or remove a batch (disk full, I/O): retry, ack nothing
        └── SpoolBusy    another gateway process holds the spool directory: refuse to start (exit code 2)
"""

from __future__ import annotations


class GatewayError(Exception):
    """Base class of the gateway's own errors."""


class BrokerError(GatewayError, ConnectionError):
    """The broker refused us, or the connection failed or was lost."""


class StoreDown(GatewayError):
    """The store kept failing for the whole retry window (unavailable, credentials refused, a 2xx that is not 204):
    spool the batch. Never raised for points the store refused for good (those are ``StoreRejection``)."""


class SpoolError(GatewayError):
    """The spool could not do what was asked (disk full, I/O error, read-only file system) and is unchanged: an
    append stored nothing (so nothing may be acknowledged for that batch), a remove kept the batch (it is replayed
    again, harmlessly). Retry later; :attr:`full` tells a full disk from other trouble."""

    def __init__(self, message: str, *, full: bool = False) -> None:
        super().__init__(message)
        self.full = full
        """True when SQLite said the disk (or the database's size limit) is full (``SQLITE_FULL``)."""


class SpoolBusy(SpoolError):
    """Another gateway process holds this spool directory (each replica needs its own)."""
