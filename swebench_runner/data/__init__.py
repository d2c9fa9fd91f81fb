"""Data: SWE-bench datasets, the mirrors of their repositories, sealed copies at a base commit, and gold patches."""
