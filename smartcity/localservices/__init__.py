"""Private instances of the platform's servers (Mosquitto, influxd) on free loopback ports, each with its own
config and data under a work dir, the gateway as a child process, and the probes and load files that the tests and
benchmarks share: used by the test fixtures, the benchmarks and commands that run the platform locally."""

from smartcity.localservices.influxd import InfluxdProcess
from smartcity.localservices.mosquitto import MosquittoProcess
from smartcity.localservices.process import ServiceError, free_port

__all__ = ["InfluxdProcess", "MosquittoProcess", "ServiceError", "free_port"]
