"""Strategy kinds by name: the `kind` strings of scenario files."""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar, Protocol

from strategies.best_price import BestPrice
from strategies.first_wins import FirstWins
from strategies.scatter import QuoteSource
from venues.messages import Quote, QuoteRequest


class Strategy(Protocol):
    """A gatherer: given a request and the venues, decide on one quote, or on none."""

    kind: ClassVar[str]

    async def decide(
        self, request: QuoteRequest, venues: Sequence[QuoteSource]
    ) -> Quote | None: ...


STRATEGIES: dict[str, type] = {cls.kind: cls for cls in (FirstWins, BestPrice)}
