"""staggered: happy eyeballs for quotes: one venue at a time, the next after a delay."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from strategies import fields
from strategies.arrays import Decisions, QuoteArrays
from strategies.scatter import QuoteSource, scatter
from venues.messages import Quote, QuoteRequest


@dataclass(frozen=True)
class Staggered:
    """Ask the venues one at a time in order: the next every `stagger_ms`, or at once when the
    last one asked fails (answers with a quote that cannot fill the order); take the first
    quote that can.

    trio's open_tcp_stream races connection attempts this way (RFC 8305, happy eyeballs): the
    first venue gets a head start, so a healthy venue 1 costs the others nothing, while a slow
    or dead one costs at most one stagger, and a failing one nothing. A venue that never
    answers is only noticed by the stagger. Load: about one venue per request when the first
    is fast.
    """

    kind: ClassVar[str] = "staggered"
    name: str = fields.name()
    stagger_ms: float = fields.delay_ms(0.5)
    timeout_ms: float = fields.timeout_ms()

    async def decide(self, request: QuoteRequest, venues: Sequence[QuoteSource]) -> Quote | None:
        stagger_s = self.stagger_ms * 1e-3
        left = list(venues)
        now_s = 0.0  # when, after the request, the gatherer last woke (exactly)
        async with scatter(request, [], timeout_s=self.timeout_ms * 1e-3) as quotes:
            while True:
                if left:
                    quotes.ask(left.pop(0))
                until = now_s + stagger_s if left else None
                received = await quotes.collect(1, within_s=until)
                if received and _can_fill(received[0], request):
                    return received[0]
                if quotes.timed_out:
                    return None
                if received:  # a failure: on to the next venue at once
                    now_s = received[0].arrived_after_s
                elif until is not None:  # the stagger passed
                    now_s = until
                else:  # every venue asked has answered, and none can fill the order
                    return None

    def decide_arrays(self, quotes: QuoteArrays) -> Decisions:
        """`decide` over arrays, round by round (each asks a venue or takes a quote, in order
        of arrival, then venue): the first quote that can fill the order wins; one that
        cannot sends the gatherer on to the next venue at once."""
        count, n = quotes.venues, quotes.requests
        timeout, stagger = self.timeout_ms * 1e-3, self.stagger_ms * 1e-3
        can_fill = quotes.can_fill()
        asked_at = np.full((count, n), np.inf)  # after the request
        taken = np.zeros((count, n), dtype=bool)
        now = np.zeros(n)
        asked = np.zeros(n, dtype=np.int64)  # venues asked so far: the first `asked`
        chosen, decided = np.full(n, -1), np.full(n, np.nan)
        going = np.ones(n, dtype=bool)
        columns = np.arange(n)
        for _ in range(2 * count + 1):
            ask = going & (asked < count)
            asked_at[asked[ask], columns[ask]] = now[ask]
            asked[ask] += 1
            arrives = asked_at + quotes.latency  # sent_after + latency, as trio adds them
            waiting = going[None, :] & np.isfinite(asked_at) & ~taken & quotes.answers
            waiting &= arrives <= timeout
            first = np.argmin(np.where(waiting, arrives, np.inf), axis=0)
            at = arrives[first, columns]
            more = asked < count
            until = np.where(more, now + stagger, np.inf)
            got = going & waiting[first, columns] & (at <= np.minimum(until, timeout))
            win = got & can_fill[first, columns]
            chosen[win], decided[win] = first[win], at[win]
            failed = got & ~win  # a quote too small for the order: on to the next venue at once
            taken[first[failed], columns[failed]] = True
            now[failed] = at[failed]
            passed = going & ~got & more & (until < timeout)  # the stagger passed first
            now[passed] = until[passed]
            going &= (failed & (at < timeout)) | passed  # at the timeout, the gatherer stops
            if not going.any():
                break
        sent = np.where(chosen >= 0, asked_at[np.maximum(chosen, 0), columns], 0.0)
        # with no quote that can fill, the race ends when every venue has answered (all
        # taken, none could fill), else at the timeout
        ended = np.where(taken.sum(axis=0) == count, now, timeout)
        return Decisions(chosen[None, :], decided, ended, sent=sent, asked=asked)


def _can_fill(quote: Quote, request: QuoteRequest) -> bool:
    return quote.size >= request.size
