"""Citéla catalogue."""
