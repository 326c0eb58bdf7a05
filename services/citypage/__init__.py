"""The city page: a live map of the city served by the planning API at ``/`` (static files, no build step)."""
