"""gateway component."""
