"""Citéla common."""
