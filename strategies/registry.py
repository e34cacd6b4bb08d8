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
    size), on legs across venues (split), or on none."""

    kind: ClassVar[str]

    async def decide(
        self, request: QuoteRequest, venues: Sequence[QuoteSource]
    ) -> Quote | Sequence[Leg] | None: ...


BUILT_IN = (FirstWins, BestPrice, FirstK, Deadline, Threshold, Staggered, Hedged, Adaptive, Split)
STRATEGIES: dict[str, type] = {cls.kind: cls for cls in BUILT_IN}

_KIND = re.compile(r"[a-z][a-z0-9_]*")
Decide = Callable[..., Awaitable[Quote | None]]


def register(target: Any = None, *, kind: str | None = None) -> Any:
    """Make a strategy usable by its kind, in scenario files and by name in Python.

    Decorate a frozen dataclass with a `kind` class attribute and an async `decide(request,
    venues)` method, or an async function `decide(request, venues, *, param=default, ...)`:
    its keyword-only parameters, typed and with defaults, become the strategy's parameters
    (checked like any other from a scenario file), and the function's name its kind unless
    `kind` is given. Returns the class (for a function: the class made for it).
    """

    def add(target: Any) -> type:
        cls = target if inspect.isclass(target) else _from_function(target, kind)
        name = kind or cls.kind
        if not _KIND.fullmatch(name):
            raise ValueError(f"strategy kind {name!r}: use lower-case letters, digits and '_'")
        if name in STRATEGIES and STRATEGIES[name] is not cls:
            raise ValueError(f"strategy kind {name!r} is already registered")
        if not (dataclasses.is_dataclass(cls) and inspect.iscoroutinefunction(cls.decide)):
            raise TypeError(f"{cls.__name__}: a strategy is a dataclass with an async decide()")
        cls.kind = name
        STRATEGIES[name] = cls
        return cls

    return add if target is None else add(target)


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
        fields.append((parameter.name, hints.get(parameter.name, Any), parameter.default))

    async def decide(self: Any, request: QuoteRequest, venues: Sequence[QuoteSource]) -> Any:
        return await function(request, venues, **dataclasses.asdict(self))

    cls = dataclasses.make_dataclass(
        function.__name__.title().replace("_", ""),
        [(name, hint, dataclasses.field(default=default)) for name, hint, default in fields],
        namespace={
            "decide": decide,
            "kind": kind or function.__name__,
            "__doc__": function.__doc__,
        },
        frozen=True,
    )
    return cls
