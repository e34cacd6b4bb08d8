"""Strategy kinds by name (the `kind` strings of scenario files), and registering your own."""

from __future__ import annotations

import dataclasses
import inspect
import re
import typing
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, ClassVar, Protocol

from strategies.adaptive import Adaptive
from strategies.best_price import BestPrice
from strategies.deadline import Deadline
from strategies.fields import name as strategy_name
from strategies.first_k import FirstK
from strategies.first_wins import FirstWins
from strategies.hedged import Hedged
from strategies.scatter import QuoteSource
from strategies.split import Leg, Split
from strategies.staggered import Staggered
from strategies.threshold import Threshold
from venues.messages import Quote, QuoteRequest


class Strategy(Protocol):
    """A gatherer: given a request and the venues, decide on one quote (an order for the whole
    size), on legs across venues (split), or on none.

    Optional hooks: `for_run(seed)` returns a fresh copy for each run (a strategy that learns
    within a run keeps its state there, so nothing leaks between runs), and
    `observe_report(report, at)` hears how each of its orders went.
    """

    kind: ClassVar[str]

    async def decide(
        self, request: QuoteRequest, venues: Sequence[QuoteSource]
    ) -> Quote | Sequence[Leg] | None: ...


BUILT_IN = (FirstWins, BestPrice, FirstK, Deadline, Threshold, Staggered, Hedged, Adaptive, Split)
STRATEGIES: dict[str, type] = {cls.kind: cls for cls in BUILT_IN}

_KIND = re.compile(r"[a-z][a-z0-9_]*")
Decide = Callable[..., Awaitable[Quote | Sequence[Leg] | None]]


def register(target: Any = None, *, kind: str | None = None) -> Any:
    """Make a strategy usable by its kind, in scenario files and by name in Python.

    Decorate a frozen dataclass with a `kind` class attribute and an async `decide(request,
    venues)` method, or an async function `decide(request, venues, *, param=default, ...)`:
    its keyword-only parameters, typed and with defaults, become the strategy's parameters
    (checked like any other from a scenario file), and the function's name its kind unless
    `kind` is given. Registering the same one again (a re-run notebook cell) replaces it.
    A kind registered in Python is known to that process: scenario files run from it (by
    `sim.run`) can use it; the `quoterace` command cannot import your module. Returns the
    class (for a function: the class made for it): `sim.run` takes it as it takes a kind (the
    scenario's own strategy of that kind, else the defaults), or called with parameters and
    `name=` like any strategy class.
    """

    def add(target: Any) -> type:
        cls = target if inspect.isclass(target) else _from_function(target, kind)
        name = kind or getattr(cls, "kind", None)
        if not isinstance(name, str) or not _KIND.fullmatch(name):
            raise ValueError(f"strategy kind {name!r}: use lower-case letters, digits and '_'")
        if not (dataclasses.is_dataclass(cls) and inspect.iscoroutinefunction(cls.decide)):
            raise TypeError(f"{cls.__name__}: a strategy is a dataclass with an async decide()")
        if cls in BUILT_IN and cls.kind != name:
            raise ValueError(f"{cls.__name__} is built in as {cls.kind!r}")
        _check_parameters(cls)
        known = STRATEGIES.get(name)
        if known is not None and known is not cls and _origin(known) != _origin(cls):
            raise ValueError(f"strategy kind {name!r} is already registered")
        cls.kind = name
        STRATEGIES[name] = cls  # the same one registered again (a re-run cell) replaces itself
        return cls

    return add if target is None else add(target)


RESERVED = ("kind", "name", "max_retries")  # scenario keys of every strategy, not parameters


def _check_parameters(cls: type) -> None:
    """Every parameter has a default, a type a scenario file can give, and a free name."""
    hints = typing.get_type_hints(cls)
    for f in dataclasses.fields(cls):
        if not f.init or (f.name == "name" and f.kw_only and hints[f.name] is str):
            continue  # `name: str = fields.name()`: what a run reports it by
        if f.name in RESERVED:
            raise TypeError(f"{cls.__name__}: parameter {f.name!r} is a scenario key")
        if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
            raise TypeError(f"{cls.__name__}: parameter {f.name} needs a default")
        if not _fileable(hints[f.name]):
            raise TypeError(
                f"{cls.__name__}: parameter {f.name}: {hints[f.name]} cannot come from a "
                "scenario file (use float, int, str, a tuple of one of those, or None)"
            )


def _fileable(hint: Any) -> bool:
    args = typing.get_args(hint)
    if typing.get_origin(hint) is tuple:
        return len(args) == 2 and args[1] is Ellipsis and _fileable(args[0])
    if args and type(None) in args:
        return all(_fileable(a) for a in args if a is not type(None))
    return hint in (float, int, str)


def _origin(cls: type) -> tuple[str, str]:
    """Where a class (or the function it was made from) was defined."""
    made_from = getattr(cls, "__wrapped__", cls)
    return made_from.__module__, made_from.__qualname__


def _from_function(function: Decide, kind: str | None) -> type:
    """A frozen dataclass whose fields are `function`'s keyword-only parameters."""
    if not inspect.iscoroutinefunction(function):
        raise TypeError(f"{function.__name__}: a strategy function must be `async def`")
    hints = typing.get_type_hints(function)
    fields = []
    for parameter in inspect.signature(function).parameters.values():
        if parameter.kind is not inspect.Parameter.KEYWORD_ONLY:
            continue
        if parameter.default is inspect.Parameter.empty:
            raise TypeError(f"{function.__name__}: parameter {parameter.name} needs a default")
        if parameter.name in RESERVED:
            raise TypeError(f"{function.__name__}: parameter {parameter.name!r} is a scenario key")
        fields.append((parameter.name, hints.get(parameter.name, Any), parameter.default))

    async def decide(self: Any, request: QuoteRequest, venues: Sequence[QuoteSource]) -> Any:
        parameters = {f: getattr(self, f) for f, _, _ in fields}
        return await function(request, venues, **parameters)

    cls = dataclasses.make_dataclass(
        function.__name__.title().replace("_", ""),
        [(name, hint, dataclasses.field(default=default)) for name, hint, default in fields]
        + [("name", str, strategy_name())],
        namespace={
            "decide": decide,
            "kind": kind or function.__name__,
            "__doc__": function.__doc__,
            "__wrapped__": function,
        },
        frozen=True,
    )
    cls.__module__ = function.__module__  # make_dataclass's module= is Python 3.12+
    return cls
