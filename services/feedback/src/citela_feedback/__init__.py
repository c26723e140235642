"""Citéla feedback."""
