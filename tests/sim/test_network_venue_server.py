"""A bundled scenario's venue served over loopback answers with the simulator's draws."""

from __future__ import annotations

import pytest
import trio

from sim.model.draws import draw
from sim.model.errors import ScenarioError
from sim.model.scenario import load
from sim.network.venue_server import venue_server
from venues.fix import FixReader, Logon, QuoteReply, Session, decode, encode
from venues.messages import QuoteRequest


async def test_the_served_venue_answers_with_the_scenarios_draws(nursery):
    scenario = load("default").with_overrides(requests=50)
    server = venue_server(scenario, "steady")
    port = await nursery.start(server.serve)
    stream = await trio.open_tcp_stream("127.0.0.1", port)
    session, reader = Session("C", "steady"), FixReader()
    requests = [QuoteRequest(i, 0.0, size=scenario.order.size) for i in (0, 7, 49)]
    # asking for quoterace's own tags at Logon: the venue index and the sampled latency
    logon = Logon(0, extras=True)
    await stream.send_all(b"".join(session.encode(encode(m)) for m in [logon, *requests]))
    replies: list = []
    with trio.fail_after(2):
        while len(replies) < 1 + len(requests):
            replies += reader.feed(await stream.receive_some())
    agreed, *quotes = (decode(fix) for fix in replies)
    assert agreed == Logon(0, extras=True)
    assert all(isinstance(q, QuoteReply) for q in quotes), quotes
    expected = draw(scenario).venues[1]
    assert sorted((q.quote.request, q.quote.venue, q.quote.latency_s) for q in quotes) == [
        (i, 1, expected.latency_s[0][i]) for i in (0, 7, 49)
    ]


def test_an_unknown_venue_is_named_with_the_ones_there_are():
    with pytest.raises(ScenarioError, match="no venue named 'nope' \\(there are: fast, steady"):
        venue_server(load("default"), "nope")
