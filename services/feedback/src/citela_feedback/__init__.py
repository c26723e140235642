"""Citéla feedback."""

# The cache generations' session listeners, active wherever feedback code runs.
from citela_feedback import generations as _generations  # noqa: F401
