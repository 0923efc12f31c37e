"""Benchmarks, run on demand (never by the test suite): see docs/benchmarks.md."""
