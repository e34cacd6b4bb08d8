"""argparse types that `quoterace`'s commands share: whole numbers in a range, by name."""

from __future__ import annotations

import argparse
from collections.abc import Callable

from sim.model.scenario import MAX_REQUESTS, MAX_SEED


def whole(low: int, high: int) -> Callable[[str], int]:
    """An argparse type: a whole number from `low` to `high`."""

    def parse(text: str) -> int:
        if not (text.isascii() and text.isdigit()) or not low <= int(text) <= high:
            raise argparse.ArgumentTypeError(f"must be a whole number from {low} to {high:,}")
        return int(text)

    parse.__name__ = "number"  # what argparse calls it in its own messages
    return parse


count = whole(1, MAX_REQUESTS)  # of requests
seed = whole(0, MAX_SEED)
port = whole(0, 65535)  # 0: any free one
