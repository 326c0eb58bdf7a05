"""Private instances of the platform's servers (Mosquitto, influxd) on free loopback ports, each with its own
config and data under a work dir: used by the test fixtures and by commands that run the platform locally."""

from smartcity.localservices.influxd import InfluxdProcess
from smartcity.localservices.mosquitto import MosquittoProcess
from smartcity.localservices.process import ServiceError, free_port

__all__ = ["InfluxdProcess", "MosquittoProcess", "ServiceError", "free_port"]
