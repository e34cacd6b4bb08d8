"""sim.engines.keyed_random against CPython: SHA-512 against hashlib, and adaptive's draws
against random.Random seeded with the same strings, as strategies.adaptive draws them."""

from __future__ import annotations

import hashlib
import random

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sim.engines import keyed_random
from sim.model.scenario import MAX_REQUESTS, MAX_SEED


@pytest.mark.parametrize("size", range(keyed_random.BLOCK + 1))
def test_sha512_of_every_length_of_one_block(size) -> None:
    data = bytes((7 * k + size) % 256 for k in range(size))
    assert keyed_random.sha512(data) == hashlib.sha512(data).digest()


@settings(derandomize=True, max_examples=300, deadline=None)
@given(st.binary(max_size=keyed_random.BLOCK))
def test_sha512(data) -> None:
    assert keyed_random.sha512(data) == hashlib.sha512(data).digest()


def expected(prefix: str, suffix: str, first: int, n: int, count: int, fanout: int, explore):
    """adaptive's draws made by random.Random itself (strategies.adaptive's _choose)."""
    out = np.empty((n, fanout, 2), dtype=np.int64)
    for i in range(first, first + n):
        rng = random.Random(f"{prefix}{i}{suffix}")
        for k in range(fanout):
            left = count - k
            if left == 1 or rng.random() < explore:
                out[i - first, k] = rng.randrange(left), -1
            else:
                out[i - first, k] = rng.sample(range(left), 2)
    return out


def drawn(prefix: str, suffix: str, first: int, n: int, count: int, fanout: int, explore):
    return keyed_random.adaptive_draws(
        prefix.encode(), suffix.encode(), n, count, fanout, explore, first
    )


@pytest.mark.parametrize("count", range(1, 22))
@pytest.mark.parametrize("explore", [0.0, 0.5, 1.0])
def test_every_small_population(count, explore) -> None:
    """random.sample's pool (21 venues or fewer), every fanout, across a block of lanes."""
    for fanout in range(1, count + 1):
        args = (f"{count * 31 + fanout}:", ":0", 0, 70, count, fanout, explore)
        assert np.array_equal(drawn(*args), expected(*args)), args


@pytest.mark.parametrize(
    ("seed", "first"),
    [
        (0, 0),
        (MAX_SEED, MAX_REQUESTS - 150),  # the longest keys a scenario makes
        (10**40 + 3, 10**8 - 40),  # keys of 9 digits then 10
        (123456789, 999_950),  # 6 digits then 7, across lanes
    ],
)
def test_seeds_and_requests_far_out(seed, first) -> None:
    """Keys of many lengths, including blocks that cross a power of ten (keys of two
    lengths, folded in separate batches)."""
    for count, fanout, explore in [(4, 1, 0.1), (3, 3, 0.0), (21, 2, 0.3), (25, 2, 0.2)]:
        args = (f"{seed}:", ":0", first, 200, count, fanout, explore)
        assert np.array_equal(drawn(*args), expected(*args)), args


def test_keys_up_to_one_block() -> None:
    """Keys of 100 to 111 bytes: the longest SHA-512 pads into one block."""
    for size in range(100, keyed_random.BLOCK + 1):
        args = ("p" * (size - 7), ":0", 9990, 20, 5, 2, 0.2)  # 4 digits, then 5
        assert np.array_equal(drawn(*args), expected(*args)), args
    with pytest.raises(ValueError, match="one SHA-512 block"):
        drawn("p" * 105, ":0", 9990, 20, 5, 2, 0.2)  # 112 bytes
    with pytest.raises(ValueError, match="below 10\\*\\*18"):
        drawn("p", ":0", 10**18 - 5, 10, 5, 2, 0.2)


def test_explore_equal_to_a_draw() -> None:
    """A pick is uniform only when random() is below `explore`, not when equal to it."""
    for i in range(8):
        args = ("3:", ":0", 0, 8, 5, 2, random.Random(f"3:{i}:0").random())
        assert np.array_equal(drawn(*args), expected(*args)), args


def test_keys_starting_with_nul_refused() -> None:
    """CPython's seed integer drops a key's leading NUL bytes, and with them words to fold
    in (here 68 significant bytes of 69 with the digest): refused, not drawn otherwise."""
    args = ("\1a", ":0", 0, 3, 4, 2, 0.5)
    assert np.array_equal(drawn(*args), expected(*args))
    with pytest.raises(ValueError):
        drawn("\0a", *args[1:])


def test_draws_past_the_first_twist() -> None:
    """Hundreds of picks from a large population: a request draws past MT19937's first 227
    words (whose twist reads words already twisted) and past its first 624 (a second twist)."""
    args = ("5:", ":0", 0, 40, 1000, 500, 0.0)
    assert np.array_equal(drawn(*args), expected(*args))


@settings(derandomize=True, max_examples=60, deadline=None)
@given(
    seed=st.integers(0, MAX_SEED),
    first=st.integers(0, MAX_REQUESTS),
    n=st.integers(1, 130),
    count=st.integers(1, 30),
    data=st.data(),
)
def test_adaptive_draws(seed, first, n, count, data) -> None:
    fanout = data.draw(st.integers(1, count))
    explore = data.draw(st.sampled_from([0.0, 1.0]) | st.floats(0.0, 1.0))
    args = (f"{seed}:", ":0", first, n, count, fanout, explore)
    assert np.array_equal(drawn(*args), expected(*args))
