"""MinHash signatures, computed in bulk and equal to what ``datasketch.MinHash`` computes.

This is the per-partition signature step of near-duplicate detection. For every document it
computes ``num_perm`` uint32 values such that ``datasketch.MinHash(num_perm, seed,
scheme=...).update_batch(shingles).hashvalues`` is the same array, where ``shingles`` are the
document's word (or character) n-grams as :func:`pipeline.dedup.normalize.word_shingles` /
:func:`~pipeline.dedup.normalize.char_shingles` build them.

The hash of a shingle is datasketch's default ``sha1_hash32`` (the first 4 bytes of its SHA-1,
little-endian). The permutations are datasketch's, drawn from ``numpy.random.RandomState(seed)``:

- ``affine32`` (datasketch >= 2.0's default): ``h`` is mixed by MurmurHash3's 32-bit finaliser,
  then ``a_k * h + b_k mod 2**32`` with odd ``a_k``;
- ``legacy`` (datasketch < 2.0): ``((a_k * h + b_k) mod 2**64) mod (2**61 - 1)``, low 32 bits.

A per-document ``update`` loop spends its time in Python: one SHA-1 object, one NumPy call and
one array per shingle. Here the whole partition is one UTF-8 buffer; a Numba-compiled kernel
finds the shingle boundaries, hashes each shingle with SHA-1 and folds it into the document's
``num_perm`` minima, with no Python object per shingle and without holding the GIL. Signatures
are returned as one ``(documents, num_perm)`` uint32 array (512 bytes a document at 128).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numba
import numpy as np

from pipeline.dedup.config import MinHashConfig, Scheme, ShingleKind
from pipeline.dedup.normalize import shingle_text

MAX_HASH = np.uint32(0xFFFFFFFF)  # the value of an empty signature, as in datasketch
_MERSENNE_PRIME = (1 << 61) - 1


def permutations(num_perm: int, seed: int, scheme: Scheme) -> tuple[np.ndarray, np.ndarray]:
    """datasketch's permutation parameters ``(a, b)`` for ``num_perm``, ``seed`` and ``scheme``.

    ``affine32``: uint32 arrays, ``a`` odd. ``legacy``: uint64 arrays below ``2**61 - 1``, drawn
    one ``(a, b)`` pair at a time as datasketch draws them.
    """
    gen = np.random.RandomState(seed)
    if scheme == "legacy":
        prime = np.uint64(_MERSENNE_PRIME)
        pairs = [
            (gen.randint(1, prime, dtype=np.uint64), gen.randint(0, prime, dtype=np.uint64))
            for _ in range(num_perm)
        ]
        params = np.array(pairs, dtype=np.uint64).T
        return np.ascontiguousarray(params[0]), np.ascontiguousarray(params[1])
    a = gen.randint(0, 1 << 31, num_perm, dtype=np.uint32) * np.uint32(2) + np.uint32(1)
    b = gen.randint(0, 1 << 32, num_perm, dtype=np.uint32)
    return a, b


# Numba widens integers narrower than 64 bits to 64 bits in arithmetic, so the 32-bit SHA-1 and
# MurmurHash arithmetic below is done in uint64 and masked back to 32 bits explicitly.
_M32 = np.uint64(0xFFFFFFFF)


@numba.njit(cache=True, nogil=True, inline="always")
def _rotl(x: np.uint64, n: int) -> np.uint64:
    return ((x << np.uint64(n)) | (x >> np.uint64(32 - n))) & _M32


@numba.njit(cache=True, nogil=True)
def _sha1_hash32(buf: np.ndarray, start: int, end: int, w: np.ndarray) -> np.uint64:
    """``struct.unpack('<I', sha1(buf[start:end]).digest()[:4])[0]`` (FIPS 180-4)."""
    h0 = np.uint64(0x67452301)
    h1 = np.uint64(0xEFCDAB89)
    h2 = np.uint64(0x98BADCFE)
    h3 = np.uint64(0x10325476)
    h4 = np.uint64(0xC3D2E1F0)
    length = end - start
    blocks = (length + 8) // 64 + 1  # message + 0x80 + 8-byte bit length, padded to 64 bytes
    for block in range(blocks):
        base = block * 64
        for t in range(16):
            p = base + 4 * t
            if p + 3 < length:
                s = start + p
                w[t] = (
                    (np.uint64(buf[s]) << np.uint64(24))
                    | (np.uint64(buf[s + 1]) << np.uint64(16))
                    | (np.uint64(buf[s + 2]) << np.uint64(8))
                    | np.uint64(buf[s + 3])
                )
            else:
                v = np.uint64(0)
                for k in range(4):
                    q = p + k
                    byte = np.uint64(0)
                    if q < length:
                        byte = np.uint64(buf[start + q])
                    elif q == length:
                        byte = np.uint64(0x80)
                    v = (v << np.uint64(8)) | byte
                w[t] = v
        if block == blocks - 1:
            bits = np.uint64(length) * np.uint64(8)
            w[14] = bits >> np.uint64(32)
            w[15] = bits & _M32
        for t in range(16, 80):
            w[t] = _rotl(w[t - 3] ^ w[t - 8] ^ w[t - 14] ^ w[t - 16], 1)
        a, b, c, d, e = h0, h1, h2, h3, h4
        for t in range(20):
            f = (b & c) | (~b & d & _M32)
            tmp = (_rotl(a, 5) + f + e + np.uint64(0x5A827999) + w[t]) & _M32
            e, d, c, b, a = d, c, _rotl(b, 30), a, tmp
        for t in range(20, 40):
            tmp = (_rotl(a, 5) + (b ^ c ^ d) + e + np.uint64(0x6ED9EBA1) + w[t]) & _M32
            e, d, c, b, a = d, c, _rotl(b, 30), a, tmp
        for t in range(40, 60):
            f = (b & c) | (b & d) | (c & d)
            tmp = (_rotl(a, 5) + f + e + np.uint64(0x8F1BBCDC) + w[t]) & _M32
            e, d, c, b, a = d, c, _rotl(b, 30), a, tmp
        for t in range(60, 80):
            tmp = (_rotl(a, 5) + (b ^ c ^ d) + e + np.uint64(0xCA62C1D6) + w[t]) & _M32
            e, d, c, b, a = d, c, _rotl(b, 30), a, tmp
        h0 = (h0 + a) & _M32
        h1 = (h1 + b) & _M32
        h2 = (h2 + c) & _M32
        h3 = (h3 + d) & _M32
        h4 = (h4 + e) & _M32
    # the digest's first 4 bytes are h0 big-endian; datasketch reads them little-endian
    return (
        (h0 >> np.uint64(24))
        | ((h0 >> np.uint64(8)) & np.uint64(0xFF00))
        | ((h0 << np.uint64(8)) & np.uint64(0xFF0000))
        | ((h0 << np.uint64(24)) & _M32)
    )


#: How the kernel finds a document's units. ``WORDS``: the text is already :func:`shingle_text`
#: ("word"): words separated by single spaces. ``CHARS``: UTF-8 characters. ``ASCII_WORDS``: raw
#: ASCII text; the kernel itself lower-cases it and keeps the runs of ``[a-z0-9_]``, which is
#: exactly what ``\\w+`` on the lower-cased text keeps, so the regex pass is skipped.
WORDS, CHARS, ASCII_WORDS = 0, 1, 2


@numba.njit(cache=True, nogil=True)
def _ascii_words(buf: np.ndarray, lo: int, hi: int, scratch: np.ndarray) -> int:
    """Write the lower-cased ``[A-Za-z0-9_]`` runs of ``buf[lo:hi]`` to ``scratch`` joined by
    single spaces; return the length written."""
    n = 0
    in_word = False
    for p in range(lo, hi):
        c = buf[p]
        if 65 <= c <= 90:
            c += 32
        if (97 <= c <= 122) or (48 <= c <= 57) or c == 95:
            if not in_word and n > 0:
                scratch[n] = 32
                n += 1
            scratch[n] = c
            n += 1
            in_word = True
        else:
            in_word = False
    return n


@numba.njit(cache=True, nogil=True)
def _signature_kernel(
    buf: np.ndarray,
    doc_starts: np.ndarray,
    modes: np.ndarray,
    ngrams: np.ndarray,
    a: np.ndarray,
    b: np.ndarray,
    legacy: bool,
    out: np.ndarray,
    counts: np.ndarray,
) -> None:
    """Fill ``out[d]`` with the signature of document ``d`` (bytes ``doc_starts[d:d+2]``).

    A shingle is ``ngrams[d]`` consecutive units (words or characters, by ``modes[d]``), one
    contiguous byte range; fewer units than that make one shingle of all of them. ``counts[d]``
    gets the number of shingles hashed (0: none, the signature stays empty as in datasketch).
    """
    w = np.empty(80, np.uint64)
    longest = 0
    for d in range(doc_starts.shape[0] - 1):
        longest = max(longest, doc_starts[d + 1] - doc_starts[d])
    unit_starts = np.empty(longest + 2, np.int64)
    scratch = np.empty(longest + 1, np.uint8)
    num_perm = a.shape[0]
    prime = np.uint64(0x1FFFFFFFFFFFFFFF)
    for d in range(doc_starts.shape[0] - 1):
        row = out[d]
        for k in range(num_perm):
            row[k] = np.uint32(0xFFFFFFFF)
        src = buf
        lo, hi = doc_starts[d], doc_starts[d + 1]
        if modes[d] == ASCII_WORDS:
            src = scratch
            lo, hi = 0, _ascii_words(buf, lo, hi, scratch)
        counts[d] = 0
        if hi == lo:
            continue
        units = 0
        gap = 0
        if modes[d] == CHARS:
            for p in range(lo, hi):
                if (src[p] & 0xC0) != 0x80:
                    unit_starts[units] = p
                    units += 1
            unit_starts[units] = hi
        else:
            gap = 1
            unit_starts[0] = lo
            units = 1
            for p in range(lo, hi):
                if src[p] == 32:
                    unit_starts[units] = p + 1
                    units += 1
            unit_starts[units] = hi + 1
        n = ngrams[d]
        shingles = units - n + 1 if units >= n else 1
        counts[d] = shingles
        for i in range(shingles):
            start = unit_starts[i]
            end = unit_starts[i + n] - gap if units >= n else hi
            h = _sha1_hash32(src, start, end, w)
            if legacy:
                for k in range(num_perm):
                    v = np.uint32(((a[k] * h + b[k]) % prime) & _M32)
                    if v < row[k]:
                        row[k] = v
            else:  # MurmurHash3's fmix32, then a*h + b mod 2**32
                h ^= h >> np.uint64(16)
                h = (h * np.uint64(0x85EBCA6B)) & _M32
                h ^= h >> np.uint64(13)
                h = (h * np.uint64(0xC2B2AE35)) & _M32
                h ^= h >> np.uint64(16)
                for k in range(num_perm):
                    row[k] = min(row[k], np.uint32((np.uint64(a[k]) * h + np.uint64(b[k])) & _M32))


@dataclass(frozen=True)
class MinHasher:
    """datasketch-compatible MinHash signatures for many documents at once."""

    num_perm: int = 128
    seed: int = 1
    scheme: Scheme = "affine32"
    _a: np.ndarray = field(init=False, repr=False, compare=False)
    _b: np.ndarray = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        a, b = permutations(self.num_perm, self.seed, self.scheme)
        object.__setattr__(self, "_a", a)
        object.__setattr__(self, "_b", b)

    @classmethod
    def from_config(cls, config: MinHashConfig) -> MinHasher:
        return cls(config.num_perm, config.seed, config.scheme)

    def signatures(
        self,
        texts: Sequence[str],
        kinds: Sequence[ShingleKind],
        ngrams: Sequence[int] | int,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Signatures of raw ``texts``, each shingled as ``kinds[i]`` with n-grams of
        ``ngrams[i]`` units.

        Returns ``(signatures, shingle_counts)``: a ``(len(texts), num_perm)`` uint32 array and
        the number of shingles of each document (0 for a document without any).
        """
        encoded, modes = [], np.empty(len(texts), np.int8)
        for i, (text, kind) in enumerate(zip(texts, kinds, strict=True)):
            if kind == "word" and text.isascii():
                modes[i] = ASCII_WORDS
                encoded.append(text.encode("ascii"))
            else:
                modes[i] = CHARS if kind == "char" else WORDS
                encoded.append(shingle_text(text, kind).encode("utf-8"))
        starts = np.zeros(len(encoded) + 1, np.int64)
        np.cumsum([len(e) for e in encoded], out=starts[1:])
        buf = np.frombuffer(b"".join(encoded), np.uint8) if starts[-1] else np.zeros(1, np.uint8)
        lengths = np.broadcast_to(np.asarray(ngrams, np.int64), (len(encoded),))
        out = np.empty((len(encoded), self.num_perm), np.uint32)
        counts = np.zeros(len(encoded), np.int64)
        _signature_kernel(
            buf,
            starts,
            modes,
            np.ascontiguousarray(lengths),
            self._a,
            self._b,
            self.scheme == "legacy",
            out,
            counts,
        )
        return out, counts


def document_signatures(
    texts: Sequence[str], kinds: Sequence[str], config: MinHashConfig
) -> tuple[np.ndarray, np.ndarray]:
    """Signatures of documents by their ``kind`` (``code`` uses ``config.code_shingle``)."""
    shingles = shingle_kinds(kinds, config)
    ngrams = [config.char_ngram if s == "char" else config.ngram for s in shingles]
    return MinHasher.from_config(config).signatures(texts, shingles, ngrams)


def shingle_kinds(kinds: Sequence[str], config: MinHashConfig) -> list[ShingleKind]:
    """The shingle kind used for each document ``kind``."""
    return [config.code_shingle if kind == "code" else config.shingle for kind in kinds]
