"""Helpers shared by the test suites (servers, fixture loaders)."""
