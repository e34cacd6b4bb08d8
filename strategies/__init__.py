"""The client side: strategies that scatter a quote request and gather the answers.

Imports only the message types of `venues`.
"""

from strategies.adaptive import Adaptive
from strategies.best_price import BestPrice
from strategies.deadline import Deadline
from strategies.first_k import FirstK
from strategies.first_wins import FirstWins
from strategies.hedged import Hedged
from strategies.ranking import best, cost_bps, rank
from strategies.registry import STRATEGIES, Strategy, register
from strategies.scatter import Quotes, QuoteSource, scatter
from strategies.split import Leg, Split
from strategies.staggered import Staggered
from strategies.threshold import Threshold

__all__ = [
    "STRATEGIES",
    "Adaptive",
    "BestPrice",
    "Deadline",
    "FirstK",
    "FirstWins",
    "Hedged",
    "Leg",
    "QuoteSource",
    "Quotes",
    "Split",
    "Staggered",
    "Strategy",
    "Threshold",
    "best",
    "cost_bps",
    "rank",
    "register",
    "scatter",
]
