"""random.Random seeded with the strings f"{prefix}{i}{suffix}" for many requests i at once,
compiled with numba: the first draws of each, exactly as CPython makes them. Imported only by
the scans that need it (sim.engines.scan), so that a run that needs none never loads numba.

Seeding with a str (version 2) is SHA-512 of its bytes appended to them, read as a big-endian
integer, whose 32-bit words (least significant first) MT19937's init_by_array folds into the
state init_genrand(19650218) starts. That fold is a serial chain of 1247 steps per key, so
keys of one length go side by side in LANES lanes (arrays of rows of LANES, the inner loops
over lanes), which the compiler vectorizes; SHA-512 the same way. Only the first words a
request draws are generated: word k of MT19937's twist needs only words k, k + 1 and k + 397
of the state before it (or after, past 227), so each is twisted in place when drawn, in
order, as the whole twist would.

Draws as CPython's: `random()` from two words, ((a >> 5) * 2**26 + (b >> 6)) / 2**53;
`_randbelow(n)` from getrandbits(n.bit_length()), one word shifted right, rejected while >= n.
"""

from __future__ import annotations

import numpy as np
from numba import njit

LANES = 64  # keys folded side by side
N, M = 624, 397  # MT19937's state words, and the twist's offset

# SHA-512 (FIPS 180-4): the initial hash value and the round constants.
_H0 = np.array(
    [
        0x6A09E667F3BCC908, 0xBB67AE8584CAA73B, 0x3C6EF372FE94F82B, 0xA54FF53A5F1D36F1,
        0x510E527FADE682D1, 0x9B05688C2B3E6C1F, 0x1F83D9ABFB41BD6B, 0x5BE0CD19137E2179,
    ],
    dtype=np.uint64,
)  # fmt: skip
_K = np.array(
    [
        0x428A2F98D728AE22, 0x7137449123EF65CD, 0xB5C0FBCFEC4D3B2F, 0xE9B5DBA58189DBBC,
        0x3956C25BF348B538, 0x59F111F1B605D019, 0x923F82A4AF194F9B, 0xAB1C5ED5DA6D8118,
        0xD807AA98A3030242, 0x12835B0145706FBE, 0x243185BE4EE4B28C, 0x550C7DC3D5FFB4E2,
        0x72BE5D74F27B896F, 0x80DEB1FE3B1696B1, 0x9BDC06A725C71235, 0xC19BF174CF692694,
        0xE49B69C19EF14AD2, 0xEFBE4786384F25E3, 0x0FC19DC68B8CD5B5, 0x240CA1CC77AC9C65,
        0x2DE92C6F592B0275, 0x4A7484AA6EA6E483, 0x5CB0A9DCBD41FBD4, 0x76F988DA831153B5,
        0x983E5152EE66DFAB, 0xA831C66D2DB43210, 0xB00327C898FB213F, 0xBF597FC7BEEF0EE4,
        0xC6E00BF33DA88FC2, 0xD5A79147930AA725, 0x06CA6351E003826F, 0x142929670A0E6E70,
        0x27B70A8546D22FFC, 0x2E1B21385C26C926, 0x4D2C6DFC5AC42AED, 0x53380D139D95B3DF,
        0x650A73548BAF63DE, 0x766A0ABB3C77B2A8, 0x81C2C92E47EDAEE6, 0x92722C851482353B,
        0xA2BFE8A14CF10364, 0xA81A664BBC423001, 0xC24B8B70D0F89791, 0xC76C51A30654BE30,
        0xD192E819D6EF5218, 0xD69906245565A910, 0xF40E35855771202A, 0x106AA07032BBD1B8,
        0x19A4C116B8D2D0C8, 0x1E376C085141AB53, 0x2748774CDF8EEB99, 0x34B0BCB5E19B48A8,
        0x391C0CB3C5C95A63, 0x4ED8AA4AE3418ACB, 0x5B9CCA4F7763E373, 0x682E6FF3D6B2B8A3,
        0x748F82EE5DEFB2FC, 0x78A5636F43172F60, 0x84C87814A1F0AB72, 0x8CC702081A6439EC,
        0x90BEFFFA23631E28, 0xA4506CEBDE82BDE9, 0xBEF9A3F7B2C67915, 0xC67178F2E372532B,
        0xCA273ECEEA26619C, 0xD186B8C721C0C207, 0xEADA7DD6CDE0EB1E, 0xF57D4F7FEE6ED178,
        0x06F067AA72176FBA, 0x0A637DC5A2C898A6, 0x113F9804BEF90DAE, 0x1B710B35131C471B,
        0x28DB77F523047D84, 0x32CAAB7B40C72493, 0x3C9EBE0A15C9BEBC, 0x431D67C49C100D4C,
        0x4CC5D4BECB3E42B6, 0x597F299CFC657E2A, 0x5FCB6FAB3AD6FAEC, 0x6C44198C4A475817,
    ],
    dtype=np.uint64,
)  # fmt: skip
BLOCK = 111  # the longest key SHA-512 pads into one block of 128 bytes


def _init_genrand(s: int) -> np.ndarray:
    """MT19937's state seeded by the integer `s` (init_genrand), as init_by_array starts it."""
    mt = [s]
    for i in range(1, N):
        mt.append((1812433253 * (mt[-1] ^ (mt[-1] >> 30)) + i) & 0xFFFFFFFF)
    return np.array(mt, dtype=np.uint32)


_GENRAND = _init_genrand(19650218)  # the state init_by_array starts from


@njit(cache=True)
def _rotr(x, n):
    """`x` rotated right by `n` bits (64-bit words, as SHA-512 rotates)."""
    return (x >> np.uint64(n)) | (x << np.uint64(64 - n))


@njit(cache=True)
def _sha512(w, a, e):
    """SHA-512 of one padded block per lane, its 16 big-endian words in rows 0..15 of `w`
    (80 rows): the digest's words into rows 80..83 of `a` and `e` (84 rows): a, b, c, d and
    e, f, g, h. Rounds go down the rows (round t's a..d are a's rows t + 3..t), each across
    the lanes. Arrays here are flat, row r's lane l at r * LANES + l: so the compiler knows
    the rows' length and vectorizes across lanes."""
    for t in range(16, 80):
        for lane in range(LANES):
            x, y = w[(t - 15) * LANES + lane], w[(t - 2) * LANES + lane]
            s0 = _rotr(x, 1) ^ _rotr(x, 8) ^ (x >> np.uint64(7))
            s1 = _rotr(y, 19) ^ _rotr(y, 61) ^ (y >> np.uint64(6))
            w[t * LANES + lane] = w[(t - 16) * LANES + lane] + s0 + w[(t - 7) * LANES + lane] + s1
    for r in range(4):
        for lane in range(LANES):
            a[(3 - r) * LANES + lane], e[(3 - r) * LANES + lane] = _H0[r], _H0[4 + r]
    for t in range(80):
        k, at, et = _K[t], t * LANES, t * LANES
        for lane in range(LANES):
            ea, fa = e[et + 3 * LANES + lane], e[et + 2 * LANES + lane]
            ga, ha = e[et + LANES + lane], e[et + lane]
            aa, ba = a[at + 3 * LANES + lane], a[at + 2 * LANES + lane]
            ca, da = a[at + LANES + lane], a[at + lane]
            s1 = _rotr(ea, 14) ^ _rotr(ea, 18) ^ _rotr(ea, 41)
            t1 = ha + s1 + ((ea & fa) ^ (~ea & ga)) + k + w[t * LANES + lane]
            s0 = _rotr(aa, 28) ^ _rotr(aa, 34) ^ _rotr(aa, 39)
            a[at + 4 * LANES + lane] = t1 + s0 + ((aa & ba) ^ (aa & ca) ^ (ba & ca))
            e[et + 4 * LANES + lane] = da + t1
    for r in range(4):
        for lane in range(LANES):
            a[(83 - r) * LANES + lane] += _H0[r]
            e[(83 - r) * LANES + lane] += _H0[4 + r]


def sha512(data: bytes) -> bytes:
    """SHA-512 of `data` (at most BLOCK bytes) as `_sha512` computes it, in every lane."""
    w = np.zeros((80, LANES), dtype=np.uint64)
    padded = data + b"\x80" + bytes(125 - len(data)) + (8 * len(data)).to_bytes(2, "big")
    w[:16] = np.frombuffer(padded, dtype=">u8")[:, None]
    a, e = np.empty((84, LANES), dtype=np.uint64), np.empty((84, LANES), dtype=np.uint64)
    _sha512(w.ravel(), a.ravel(), e.ravel())
    assert (a == a[:, :1]).all() and (e == e[:, :1]).all()
    return np.concatenate([a[83:79:-1, 0], e[83:79:-1, 0]]).astype(">u8").tobytes()


@njit(cache=True)
def _keys(prefix, suffix, first, digits, lanes, key, w, words):
    """Lane l's key, f"{prefix}{first + l}{suffix}" (`digits` digits), in SHA-512's padded
    block (rows 0..15 of `w`) and as rows 16.. of `words`: the key's part of the integer
    random.Random.seed makes of key + its digest, in 32-bit words least significant first
    (rows 0..15 are the digest's). Lanes from `lanes` on repeat the last key."""
    size = prefix.size + digits + suffix.size
    key[:] = 0
    key[: prefix.size] = prefix
    key[prefix.size + digits : size] = suffix
    key[size] = 0x80
    key[126], key[127] = (8 * size) >> 8, (8 * size) & 0xFF
    for lane in range(LANES):
        i = first + min(lane, lanes - 1)
        for d in range(digits):
            key[prefix.size + digits - 1 - d] = 48 + i % 10
            i //= 10
        for t in range(16):
            word = np.uint64(0)
            if t <= size // 8 or t == 15:  # else zeros: keys are shorter than the padding
                for b in range(8 * t, 8 * t + 8):
                    word = (word << np.uint64(8)) | np.uint64(key[b])
            w[t * LANES + lane] = word
        for j in range((size + 3) // 4):
            word = 0
            for b in range(max(size - 4 * j - 4, 0), size - 4 * j):
                word = word << 8 | key[b]
            words[(16 + j) * LANES + lane] = word


@njit(cache=True)
def _digest_words(a, e, words):
    """Rows 0..15 of `words`: the digest's 32-bit words, least significant first."""
    for r in range(4):
        for lane in range(LANES):
            x, y = a[(83 - r) * LANES + lane], e[(83 - r) * LANES + lane]
            words[(15 - 2 * r) * LANES + lane] = x >> np.uint64(32)
            words[(14 - 2 * r) * LANES + lane] = x & np.uint64(0xFFFFFFFF)
            words[(7 - 2 * r) * LANES + lane] = y >> np.uint64(32)
            words[(6 - 2 * r) * LANES + lane] = y & np.uint64(0xFFFFFFFF)


@njit(cache=True)
def _u32(x):
    """`x` as a 32-bit word: numba would widen mixed arithmetic to 64 bits."""
    return np.uint32(x)


@njit(cache=True)
def _mix(before, factor):
    """init_by_array's (before ^ (before >> 30)) * factor, kept in 32 bits (numba widens
    arithmetic to 64 bits, which would halve the lanes of a vector)."""
    return _u32(_u32(before ^ (before >> _u32(30))) * _u32(factor))


@njit(cache=True)
def _init_by_array(mt, words, used):
    """MT19937's init_by_array, from init_genrand(19650218), of one key per lane (`used`
    words: rows of `words`) into `mt` (N * LANES, word i of lane l at i * LANES + l; flat, so
    that the compiler knows the rows' length). As CPython's loops, unrolled for keys of at
    most N words: N steps folding the key in (the last after wrapping to i = 1), then N - 1
    more."""
    for lane in range(LANES):
        mt[lane] = _GENRAND[0]
    j = 0
    for i in range(1, N):
        start, key = _GENRAND[i], words[j * LANES : (j + 1) * LANES]  # a row: lanes index
        for lane in range(LANES):  # it with no wrapping (vector loads, not gathers)
            mixed = start ^ _mix(mt[(i - 1) * LANES + lane], 1664525)
            mt[i * LANES + lane] = _u32(_u32(mixed + key[lane]) + _u32(j))
        j = j + 1 if j + 1 < used else 0
    key = words[j * LANES : (j + 1) * LANES]
    for lane in range(LANES):
        before = mt[lane] = mt[(N - 1) * LANES + lane]
        mixed = mt[LANES + lane] ^ _mix(before, 1664525)
        mt[LANES + lane] = _u32(_u32(mixed + key[lane]) + _u32(j))
    for i in range(2, N):
        for lane in range(LANES):
            mixed = mt[i * LANES + lane] ^ _mix(mt[(i - 1) * LANES + lane], 1566083941)
            mt[i * LANES + lane] = _u32(mixed - _u32(i))
    for lane in range(LANES):
        mixed = mt[LANES + lane] ^ _mix(mt[(N - 1) * LANES + lane], 1566083941)
        mt[LANES + lane] = _u32(mixed - _u32(1))
        mt[lane] = 0x80000000


@njit(cache=True)
def _word(mt, lane, t):
    """Word `t` MT19937 draws from lane `lane`'s state (tempered), twisting its state word in
    place: words must be drawn in order, from t = 0 just after seeding."""
    p = t % N
    y = (mt[p * LANES + lane] & 0x80000000) | (mt[(p + 1) % N * LANES + lane] & 0x7FFFFFFF)
    y = mt[(p + M) % N * LANES + lane] ^ (y >> 1) ^ (0x9908B0DF if y & 1 else 0)
    mt[p * LANES + lane] = y
    y ^= y >> 11
    y ^= (y << 7) & 0x9D2C5680
    y ^= (y << 15) & 0xEFC60000
    return y ^ (y >> 18)


@njit(cache=True)
def _below(mt, lane, t, n):
    """random.Random._randbelow(n) from word t on, and the next word's index."""
    shift = 32
    while n >> (32 - shift):
        shift -= 1
    r = _word(mt, lane, t) >> shift
    t += 1
    while r >= n:
        r = _word(mt, lane, t) >> shift
        t += 1
    return r, t


@njit(cache=True)
def _adaptive(mt, lane, count, fanout, explore, out):
    """Adaptive's draws (strategies.adaptive) for one request into `out` (fanout, 2): per pick,
    (index, -1) for a uniform pick (randrange) of the `left` venues not yet picked, else the
    pair random.sample draws (a pool of 21 or fewer: an index, then one of the others with the
    last in its place; else two distinct indices)."""
    t = 0
    for k in range(fanout):
        left = count - k
        uniform = left == 1
        if not uniform:
            a, b = _word(mt, lane, t) >> 5, _word(mt, lane, t + 1) >> 6
            t += 2
            uniform = (a * 67108864.0 + b) * (1.0 / 9007199254740992.0) < explore
        if uniform:
            out[k, 0], t = _below(mt, lane, t, left)
            out[k, 1] = -1
        elif left <= 21:
            a, t = _below(mt, lane, t, left)
            b, t = _below(mt, lane, t, left - 1)
            out[k, 0], out[k, 1] = a, left - 1 if b == a else b
        else:
            a, t = _below(mt, lane, t, left)
            b, t = _below(mt, lane, t, left)
            while b == a:
                b, t = _below(mt, lane, t, left)
            out[k, 0], out[k, 1] = a, b


def adaptive_draws(
    prefix: bytes,
    suffix: bytes,
    n: int,
    count: int,
    fanout: int,
    explore: float,
    first: int = 0,
) -> np.ndarray:
    """(request, pick, 2) adaptive's draws (`_adaptive`) of `fanout` picks among `count`
    venues for requests first..first+n-1, request i's from
    random.Random(prefix + str(i).encode() + suffix). Keys starting with a NUL byte are
    refused: CPython's seed integer drops those bytes, and with them words to fold in."""
    if prefix.startswith(b"\0"):
        raise ValueError("keys starting with a NUL byte are not drawn")
    if first + n >= 10**18:
        raise ValueError("request indices below 10**18 only")
    if len(prefix) + len(str(max(first + n - 1, 0))) + len(suffix) > BLOCK:
        raise ValueError(f"keys of at most {BLOCK} bytes (one SHA-512 block) only")
    if not 1 <= fanout <= count < 2**32:
        raise ValueError("1 <= fanout <= count < 2**32 only")
    out = np.empty((n, fanout, 2), dtype=np.int64)
    key = np.frombuffer(prefix, dtype=np.uint8), np.frombuffer(suffix, dtype=np.uint8)
    _adaptive_picks(*key, first, count, explore, out)
    return out


@njit(cache=True, nogil=True)  # the scans beside it run in other threads meanwhile
def _adaptive_picks(prefix, suffix, first, count, explore, out):
    """`out` (request, pick, 2): adaptive's draws for requests first, first + 1, ..."""
    key = np.empty(128, dtype=np.uint8)
    w = np.empty(80 * LANES, dtype=np.uint64)
    a, e = np.empty(84 * LANES, dtype=np.uint64), np.empty(84 * LANES, dtype=np.uint64)
    words = np.empty((BLOCK + 64 + 3) // 4 * LANES, dtype=np.uint32)
    mt = np.empty(N * LANES, dtype=np.uint32)
    start, end, digits, bound = first, first + out.shape[0], 1, 10
    while start < end:
        while start >= bound:
            digits, bound = digits + 1, bound * 10
        stop = min(end, start + LANES, bound)  # keys of one length
        _keys(prefix, suffix, start, digits, stop - start, key, w, words)
        _sha512(w, a, e)
        _digest_words(a, e, words)
        _init_by_array(mt, words, (prefix.size + digits + suffix.size + 64 + 3) // 4)
        for lane in range(stop - start):
            _adaptive(mt, lane, count, out.shape[1], explore, out[start - first + lane])
        start = stop
