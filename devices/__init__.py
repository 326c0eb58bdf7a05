"""devices component."""
