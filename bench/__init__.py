"""Benchmarks: each module `bench/<name>.py` has `main() -> dict` and writes `bench/results/<name>.json`."""
