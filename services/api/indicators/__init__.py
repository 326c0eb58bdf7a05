"""Indicators for planning: each defined once as data (:mod:`services.api.indicators.definitions`), computed per
district or facility kind over a period from the roll-ups (:mod:`services.api.indicators.compute`)."""
