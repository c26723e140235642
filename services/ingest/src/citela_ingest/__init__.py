"""Citéla ingest."""
