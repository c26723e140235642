"""Citéla analytics."""
