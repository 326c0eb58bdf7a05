"""Core of the smart-city platform: the city model, the wire contract and the pieces every component shares.

The components (``devices``, ``gateway``, ``services``) import this package and never each other.
"""

__version__ = "0.1.0"
