"""Environments: the official install specs (fetched apart from the pure builders of scripts and commands), the
images built from them, and each repository's own test runner."""
