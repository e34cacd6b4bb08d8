"""Schedule lag and warnings (sim.measure.lag, sim.measure.caveats): a wall-clock run says how
late its requests started and when its numbers mean little; a virtual run is unchanged.

Runs on the wall clock are kept short, and their thresholds far from what a loaded machine can
cause: the run that must warn falls behind by design (a strategy that blocks the event loop,
or a rate no event loop holds), and the run that must not keeps a schedule a busy machine keeps
with a margin of 200 ms or more.
"""

from __future__ import annotations

import functools
import json
import time
from dataclasses import dataclass
from typing import ClassVar

from sim.cli.main import main
from sim.cli.run import EXIT_NOTHING_DECIDED
from sim.measure.caveats import LAG_SHARE, caveats
from sim.measure.run import run
from sim.model.scenario import Scenario
from sim.report.gallery import gallery_md
from sim.report.markdown import report_md
from strategies.first_wins import FirstWins
from tests.helpers.scenarios import build_scenario, write_toml


def constant(ms: float) -> dict:
    return {"dist": "constant", "ms": ms}


scenario = functools.partial(build_scenario, seed=5, venues=[{"name": "a", "latency": constant(1)}])

BLOCK_S = 0.01  # what the blocking strategy keeps the event loop for, per request


@dataclass(frozen=True)
class Blocking(FirstWins):
    """first_wins after blocking the event loop for BLOCK_S: its loop holds 1/BLOCK_S requests
    a second at most."""

    kind: ClassVar[str] = "blocking"

    async def decide(self, request, venues):
        time.sleep(BLOCK_S)
        return await super().decide(request, venues)


def test_a_run_that_cannot_keep_its_schedule_reports_lag_and_warns():
    """40 requests at 1000/s, each blocking the loop 10 ms: the last starts ~0.4 s late, its
    races 1000 ms long; the lag and the rate held are reported, and the warning names both."""
    uniform = {"process": "uniform", "rate_per_s": 1000.0}
    s = scenario(requests=40, arrivals=uniform, clock="real")
    result = run(s, [Blocking(timeout_ms=1000.0)])
    summary = result.summary["strategies"]["blocking"]
    lag = summary["schedule_lag_ms"]
    assert lag["max"] >= 39 * BLOCK_S * 1e3 - 39  # 39 blocks of 10 ms against 39 ms of schedule
    assert lag["p99"] > LAG_SHARE * 1000.0
    assert summary["scheduled_rate_per_s"] == 1000.0
    assert summary["started_rate_per_s"] <= 1 / BLOCK_S
    records = result.strategies["blocking"].records
    assert records.schedule_lag_s.size == 40 and (records.schedule_lag_s >= 0).all()
    (warning,) = result.summary["warnings"]
    assert warning["strategy"] == "blocking" and warning["kind"] == "schedule_lag"
    message = warning["message"]
    assert message.startswith("blocking: ") and "of its 1000 ms timeout" in message
    assert f"of the {summary['scheduled_rate_per_s']:,.0f} scheduled" in message
    assert f"held {summary['started_rate_per_s']:,.0f} requests/s" in message
    assert f"## Warnings\n\n- {message}\n" in report_md(result.summary)  # report.md
    assert f"Warnings:\n\n- {message}\n" in gallery_md([result.summary])  # --all's README


def test_a_run_that_keeps_its_schedule_does_not_warn():
    """60 requests at 30/s, 1 ms answers, a 3000 ms timeout: a warning needs a p99 lag over
    300 ms, or the last request 220 ms late, which even a machine with every core busy does
    not make (checked with two busy loops beside it at a load of 10 on 2 cores)."""
    s = scenario(
        requests=60,
        arrivals={"process": "uniform", "rate_per_s": 30.0},
        strategies=[{"kind": "first_wins", "timeout_ms": 3000.0}],
        clock="real",
    )
    summary = run(s).summary
    first = summary["strategies"]["first_wins"]
    assert summary["warnings"] == []
    assert 0.0 <= first["schedule_lag_ms"]["p50"] <= first["schedule_lag_ms"]["max"]
    assert first["scheduled_rate_per_s"] == 30.0
    assert first["no_quote"] == 0


def test_a_closed_loop_reports_its_clients_lag_without_a_schedule_rate():
    """A closed loop's schedule is its clients' own: lag per request, no scheduled rate, no
    lag warning (its races count from the send)."""
    arrivals = {"process": "closed", "clients": 2, "think_ms": constant(2)}
    result = run(scenario(requests=20, arrivals=arrivals, clock="real"))
    for name, s in result.summary["strategies"].items():
        assert s["scheduled_rate_per_s"] is None and s["started_rate_per_s"] > 0
        assert s["schedule_lag_ms"]["p50"] is not None
        assert result.strategies[name].records.schedule_lag_s.size == 20
    assert not any(w["kind"] == "schedule_lag" for w in result.summary["warnings"])


def test_virtual_time_has_no_lag_and_no_warnings():
    """In virtual time requests start on time by construction: the summary is as before."""
    result = run(scenario(requests=50, rate=1000.0), engine="trio")
    assert "warnings" not in result.summary
    for name, s in result.summary["strategies"].items():
        assert not {"schedule_lag_ms", "scheduled_rate_per_s", "started_rate_per_s"} & set(s)
        assert result.strategies[name].records.schedule_lag_s.size == 0


def _summaries(**fields) -> tuple[Scenario, dict]:
    """A wall-clock scenario of 100 requests (first_wins, timeout 50 ms) and a strategy
    summary that kept its schedule, with `fields` changed."""
    s = scenario(requests=100, strategies=[{"kind": "first_wins", "timeout_ms": 50.0}])
    kept = {
        "no_quote": 0,
        "schedule_lag_ms": {"p99": 4.9},
        "scheduled_rate_per_s": 1000.0,
        "started_rate_per_s": 901.0,
    }
    return s, {"first_wins": kept | fields}


def test_the_warning_thresholds():
    """Lag over a tenth of the timeout at p99, or starts under 90% of the schedule's rate;
    90% of races without a quote; each failed venue with its reason."""
    assert caveats(*_summaries()) == []
    assert [w["kind"] for w in caveats(*_summaries(schedule_lag_ms={"p99": 5.1}))] == [
        "schedule_lag"
    ]
    (late,) = caveats(*_summaries(schedule_lag_ms={"p99": 1234.5}))
    assert "schedule lag p99 1,234 ms (over 10% of its 50 ms timeout)" in late["message"]
    (behind,) = caveats(*_summaries(started_rate_per_s=899.0))
    assert "(under 10% of its 50 ms timeout); held 899 requests/s of the 1,000" in behind["message"]
    assert caveats(*_summaries(no_quote=89)) == []
    (none,) = caveats(*_summaries(no_quote=90))
    assert none["message"] == "first_wins: 90 of 100 races ended with no quote"
    failures = {"a": "connection refused", "b": None}
    (failed,) = caveats(*_summaries(venue_failures=failures))
    assert failed["kind"] == "venue_failed"
    assert failed["message"] == "first_wins: venue a failed: connection refused"


FALLS_BEHIND = """
[scenario]
name = "behind"
seed = 1
requests = 2000
clock = "real"

[arrivals]
process = "uniform"
rate_per_s = 1000000

[[venues]]
name = "a"
latency = { dist = "constant", ms = 1 }

[[strategies]]
kind = "first_wins"
timeout_ms = 10
"""


def test_the_cli_says_so_once_on_stderr_and_in_the_json(tmp_path, capsys):
    """2000 requests scheduled within 2 ms: no event loop starts them in time (the lag is
    the loop's time to start them all, tens of ms at least, over a 1 ms threshold)."""
    path = write_toml(tmp_path, "behind.toml", FALLS_BEHIND)
    status = main(["run", str(path), "--json", "--quiet"])
    out, err = capsys.readouterr()
    lines = [line for line in err.splitlines() if "schedule lag" in line]
    assert len(lines) == 1
    assert lines[0].startswith("quoterace: warning: behind: first_wins: started requests late")
    assert '"kind": "schedule_lag"' in out
    assert status in (0, EXIT_NOTHING_DECIDED)  # every race may have timed out


def test_a_network_run_that_falls_behind_says_so_with_its_lag(tmp_path, capsys):
    """Network mode (issue 14: it collapsed silently): 300 requests scheduled within 0.3 ms,
    raced over TCP; starting them takes the client's loop far longer than a tenth of the 10 ms
    timeout, and the run says so once on stderr and in the JSON, with each request's lag."""
    text = FALLS_BEHIND.replace("requests = 2000", "requests = 300")
    path = write_toml(tmp_path, "behind.toml", text)
    status = main(["run", str(path), "--network", "--json", "--quiet"])
    out, err = capsys.readouterr()
    lines = [line for line in err.splitlines() if "schedule lag" in line]
    assert len(lines) == 1, err
    assert lines[0].startswith("quoterace: warning: behind: first_wins: started requests late")
    summary = json.loads(out)
    assert summary["transport"] == "fix-tcp"
    first = summary["strategies"]["first_wins"]
    assert first["schedule_lag_ms"]["p99"] > LAG_SHARE * 10.0
    assert first["started_rate_per_s"] < first["scheduled_rate_per_s"] == 1000000
    assert [w["kind"] for w in summary["warnings"]].count("schedule_lag") == 1
    assert status in (0, EXIT_NOTHING_DECIDED)


def test_a_run_that_decided_nothing_exits_with_its_status(tmp_path, capsys):
    """A venue that never answers: every race ends with no quote; the run says so once and
    exits EXIT_NOTHING_DECIDED."""
    text = (
        FALLS_BEHIND.replace("requests = 2000", "requests = 20")
        .replace("rate_per_s = 1000000", "rate_per_s = 1000")
        .replace("ms = 1 }", "ms = 1 }\nfail_prob = 1.0")
    )
    path = write_toml(tmp_path, "silent.toml", text)
    assert main(["run", str(path), "--quiet"]) == EXIT_NOTHING_DECIDED
    err = capsys.readouterr().err
    assert err.count("first_wins: 20 of 20 races ended with no quote") == 1


def test_a_run_that_decided_nothing_still_prints_and_writes_its_summary(tmp_path, capsys):
    """Exit 3 is a status, not a crash: the JSON summary and the results folder come all the
    same, with the warnings that say why (docs/summary.md)."""
    text = (
        FALLS_BEHIND.replace("requests = 2000", "requests = 20")
        .replace("rate_per_s = 1000000", "rate_per_s = 1000")
        .replace("ms = 1 }", "ms = 1 }\nfail_prob = 1.0")
    )
    path = write_toml(tmp_path, "silent.toml", text)
    out = tmp_path / "out"
    status = main(["run", str(path), "--json", "--quiet", "--out", str(out)])
    assert status == EXIT_NOTHING_DECIDED
    printed = json.loads(capsys.readouterr().out)
    written = json.loads((out / "summary.json").read_text())
    for summary in (printed, written):
        assert summary["strategies"]["first_wins"]["no_quote"] == 20
        assert "no_quote" in [w["kind"] for w in summary["warnings"]]  # and lag, if late
    assert "20 of 20 races ended with no quote" in (out / "report.md").read_text()
