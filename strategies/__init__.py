"""The client side: strategies that scatter a quote request and gather the answers.

Imports only the message types of `venues`.
"""

from strategies.best_price import BestPrice
from strategies.first_wins import FirstWins
from strategies.registry import STRATEGIES, Strategy
from strategies.scatter import Quotes, QuoteSource, scatter

__all__ = [
    "STRATEGIES",
    "BestPrice",
    "FirstWins",
    "QuoteSource",
    "Quotes",
    "Strategy",
    "scatter",
]
