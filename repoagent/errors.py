"""The exception tree users see; each maps to an exit code.

``UserError`` (exit 2) is bad input or configuration: its message names the
input and says what to do.  ``JobFailed`` (exit 1) is a job that ran but found
no fix or failed its checks.  ``retrieval`` and ``editing`` have bases of their own
(``RetrievalError``, ``EditError``), which the CLI maps to exit 2 alike.
"""

from __future__ import annotations


class RepoagentError(Exception):
    exit_code = 1


class UserError(RepoagentError):
    exit_code = 2


class ConfigError(UserError):
    pass


class JobFailed(RepoagentError):
    exit_code = 1


class EnvironmentBuildError(UserError):
    """The project's test environment could not be built (its install step failed)."""
