"""Citéla platform."""
