"""Stand-ins of the external systems (one-stop, DVCQG, PayGov, VNPost) and of local infrastructure, for
the demo, tests and benchmarks.
"""
