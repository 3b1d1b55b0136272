"""A generated province run against every hub process: the harness shared by the system test and ``bench.system``."""
