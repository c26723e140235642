"""Citéla web: the citizen portal and the authority's dashboard.

Server-rendered French pages with progressive enhancement. The web service owns no tables: it
reads and writes only through the public HTTP APIs of catalogue, feedback and analytics, with the
visitor's own token, so it can never show more than the APIs allow.
"""
