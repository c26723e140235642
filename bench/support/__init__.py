"""Helpers the benchmarks share: HTTP load with wrk, the servers they start."""
