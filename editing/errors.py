"""Errors of the editor. Messages are written to be sent back to the model as they are."""


class EditError(Exception):
    """An operation cannot be applied (missing or ambiguous target, bad position)."""


class GateError(EditError):
    """The edited file does not parse or lints worse than before."""

    def __init__(self, gate: str, path: str, message: str) -> None:
        super().__init__(f"{gate} check failed in {path}: {message}")
        self.gate = gate
        self.path = path


class ElisionError(EditError):
    """The new code leaves out lines of the original behind a marker; sent back asking for the whole definition."""
