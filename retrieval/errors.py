"""Errors of the retrieval layer; each message names the input and what to do."""

from repoagent.core.errors import UserError


class RetrievalError(UserError):
    """Base of the errors a user can act on."""


class SourceError(RetrievalError):
    """The repository, revision or path cannot be read."""
