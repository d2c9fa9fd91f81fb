"""Errors of the retrieval library; each message names the input and what to do.

The library's own base: it imports nothing of ``repoagent``, whose CLI maps a
``RetrievalError`` to exit 2 (bad input), as its own ``UserError``.
"""


class RetrievalError(Exception):
    """Base of the errors a user can act on."""

    exit_code = 2


class SourceError(RetrievalError):
    """The repository, revision or path cannot be read."""
