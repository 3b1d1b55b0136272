"""Local stand-ins of infrastructure for the embedded demo, tests and benchmarks (loopback only)."""
