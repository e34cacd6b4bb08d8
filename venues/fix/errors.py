"""FixError: bytes or a message that are not valid quoterace FIX."""

from __future__ import annotations

REASON_CHARS = 200


class FixError(Exception):
    """Bytes or a message that are not valid quoterace FIX: `reason` says what is wrong, in at
    most REASON_CHARS printable characters, so that it can go back to the peer in a Logout."""

    def __init__(self, reason: str) -> None:
        reason = reason[:REASON_CHARS]
        super().__init__(reason)
        self.reason = reason
