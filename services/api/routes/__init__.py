"""One router module per resource; each exposes ``router(settings)`` so limits from the settings show in the
OpenAPI document."""
