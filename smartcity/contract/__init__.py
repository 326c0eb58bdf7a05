"""The wire contract: topics, payload types, the metric registry and the parsers (see docs/CONTRACT.md)."""

CONTRACT_VERSION = 1
