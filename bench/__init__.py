"""Benchmarks (`make bench`). Each prints its figures with the machine's core count."""
