"""The one error users see for bad input: a file, a key path and what is wrong."""

from __future__ import annotations


class ScenarioError(Exception):
    """Bad input at `key` (a path such as `venues[2].latency.sigma`) of `file`.

    Printed as one line, `file: key: message`, and the command exits with status 2.
    """

    def __init__(self, key: str, message: str, file: str | None = None) -> None:
        super().__init__(key, message, file)
        self.key = key
        self.message = message
        self.file = file

    def in_file(self, file: str) -> ScenarioError:
        """The same error, naming `file`."""
        return ScenarioError(self.key, self.message, file)

    def __str__(self) -> str:
        parts = [p for p in (self.file, self.key, self.message) if p]
        return ": ".join(parts)
