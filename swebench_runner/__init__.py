"""SWE-bench: datasets, repositories, batch runs and benchmarks."""
