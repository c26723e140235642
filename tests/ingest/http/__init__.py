"""HttpFetcher against a local replay server."""
