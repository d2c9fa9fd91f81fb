"""Batch runs: the driver, its workers and executors (local or Ray), the journal and the summary."""
