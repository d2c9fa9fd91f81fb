"""repoagent: an autonomous repository-repair agent."""

__version__ = "0.1.0"
