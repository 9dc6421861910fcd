"""English word splitting that counts words as datatrove's quality filters do, fast.

datatrove's Gopher, repetition and FineWeb filters count words with spaCy's English tokenizer;
their thresholds were tuned on those counts. This module reproduces that tokenizer's splitting
without spaCy: text is cut at whitespace into chunks, and each chunk is split the way spaCy
splits it -- special cases (``don't`` -> ``do`` ``n't``, ``Mr.``, ``:)``), then prefixes and
suffixes peeled off in turn, then URLs kept whole, then infixes (hyphens between letters,
``/`` and ``:`` before a letter, ...), then spaCy's second pass that glues emoticon-like
pieces back together.

Speed comes from caching: a chunk always splits the same way, and most chunks of a corpus repeat,
so each distinct chunk is split once per thread and its words are kept as integer ids (packed
int64 bytes, so a text's ids are one join) into a :class:`Lexicon`, whose per-word attributes
(length, symbol-only, has a letter, a content hash, sentence punctuation) the rules read as numpy
arrays. One pass over a document's chunks gives every rule what it needs.

The first sight of a chunk is what a worker pays for once per distinct chunk, so it is kept
cheap too: the commonest chunk shapes split without regexes; the suffix and infix regexes look
ahead for a character a match can start with, and the suffix search starts near the end; the
emoticon pass first tests adjacent word pairs; a new word only gets its id, and the attributes
of all words new since are computed together, on numpy arrays of their code points, when next
read (:func:`word_attributes_batch`; :func:`word_attributes_one_by_one` is the reference and
does small batches). On the 26 MB web-like sample this made a cold pass about 1.6x faster
(``bench/words_speed.py``, ``bench/RESULTS.md``).

One difference remains, by design: spaCy's second pass also matches special cases across a
space (``) :]`` holds ``)`` ``:`` ``]``, and ``):`` spans the space); such a match is never
glued, but it keeps the ``:]`` inside the next chunk from being glued. Splitting each chunk on
its own (what makes the cache possible), we glue it: one word fewer, in 3 of the 2,487 sample
code files and none of the sample web pages, books or prose.
"""

from __future__ import annotations

import re
import threading
from array import array
from collections.abc import Iterable
from itertools import pairwise

import numpy as np

from pipeline.quality import charclasses as cc
from pipeline.quality.english_exceptions import special_cases

# --- the splitting rules ----------------------------------------------------------------------

_A, _AL, _AU = cc.ALPHA, cc.ALPHA_LOWER, cc.ALPHA_UPPER
_QUOTE_CLASS = "".join(re.escape(q) for q in cc.QUOTES_LIST)
# spaCy builds its "punctuation" class by joining the list with "|" inside [...], so the bars
# and the group syntax characters are members too; the same set is kept for the same splits.
_PUNCT_CLASS = re.escape("|".join(cc.PUNCT_LIST)) + re.escape("(?:)")
_ICON = f"[{cc.ICONS}]"
_POSSESSIVES = ("'s", "'S", "’s", "’S")

_PREFIXES = [
    "§",
    "%",
    "=",
    "—",
    "–",
    r"\+(?![0-9])",
    *(re.escape(p) for p in cc.PUNCT_LIST),
    r"\.\.+",
    "…",
    *(re.escape(q) for q in cc.QUOTES_LIST),
    *(re.escape(c) for c in cc.CURRENCY_LIST),
    _ICON,
]
_SUFFIXES = [
    *(re.escape(p) for p in cc.PUNCT_LIST),
    r"\.\.+",
    "…",
    *(re.escape(q) for q in cc.QUOTES_LIST),
    _ICON,
    "'s",
    "'S",
    "’s",
    "’S",
    "—",
    "–",
    r"(?<=[0-9])\+",
    r"(?<=°[FfCcKk])\.",
    rf"(?<=[0-9])(?:{cc.alternation(cc.CURRENCY_LIST)})",
    rf"(?<=[0-9])(?:{cc.alternation(cc.UNITS_LIST)})",
    rf"(?<=[0-9{_AL}%²\-\+{_PUNCT_CLASS}{_QUOTE_CLASS}])\.",
    rf"(?<=[{_AU}][{_AU}])\.",
]
_INFIXES = [
    r"\.\.+",
    "…",
    _ICON,
    r"(?<=[0-9])[+\-\*^](?=[0-9-])",
    rf"(?<=[{_AL}{_QUOTE_CLASS}])\.(?=[{_AU}{_QUOTE_CLASS}])",
    rf"(?<=[{_A}]),(?=[{_A}])",
    rf"(?<=[{_A}0-9])(?:{cc.alternation(cc.HYPHENS_LIST)})(?=[{_A}])",
    rf"(?<=[{_A}0-9])[:<>=/](?=[{_A}])",
]


def _first_chars(*literals: tuple[str, ...] | list[str] | str) -> str:
    """A character class body holding the first character of each literal."""
    return "".join(re.escape(c) for c in sorted({item[0] for group in literals for item in group}))


# A suffix or infix match starts with one of these characters (the first character each of their
# patterns consumes). Searching with this as a lookahead before the alternation finds the same
# matches, but tries the alternatives only where one can start, not at every position.
_SUFFIX_FIRST = _first_chars(
    cc.PUNCT_LIST, cc.QUOTES_LIST, cc.CURRENCY_LIST, cc.UNITS_LIST, _POSSESSIVES, ".…—–+"
)
_INFIX_FIRST = _first_chars(cc.HYPHENS_LIST, ".…+-*^,:<>=/")

#: Longer than any suffix but ``\.\.+`` (a suffix ends the text: the search starts this far back).
_SUFFIX_WINDOW = 1 + max(
    map(len, (*cc.PUNCT_LIST, *cc.QUOTES_LIST, *cc.CURRENCY_LIST, *cc.UNITS_LIST, *_POSSESSIVES))
)

_PREFIX_RE = re.compile("|".join(_PREFIXES))  # used with .match: anchored at the start
_SUFFIX_RE = re.compile(
    f"(?=[{_SUFFIX_FIRST}{cc.ICONS}])(?:{'|'.join(f'{s}$' for s in _SUFFIXES)})"
)
_INFIX_RE = re.compile(f"(?=[{_INFIX_FIRST}{cc.ICONS}])(?:{'|'.join(_INFIXES)})")

# URLs and host names stay one word: an optional scheme and user, then an IPv4 address outside
# the private ranges or dotted host labels ending in a lower-case top-level label, then an
# optional port and path (the URL pattern spaCy adopted from Diego Perini's validator).
_LABEL = r"[A-Za-z0-9\u00a1-\uffff]"
_URL_HOST = (
    r"(?:"
    r"(?!(?:10|127)(?:\.\d{1,3}){3})(?!(?:169\.254|192\.168)(?:\.\d{1,3}){2})"
    r"(?!172\.(?:1[6-9]|2\d|3[0-1])(?:\.\d{1,3}){2})"
    r"(?:[1-9]\d?|1\d\d|2[01]\d|22[0-3])(?:\.(?:1?\d{1,2}|2[0-4]\d|25[0-5])){2}"
    r"(?:\.(?:[1-9]\d?|1\d\d|2[0-4]\d|25[0-4]))"
    rf"|(?:(?:{_LABEL}[A-Za-z0-9\u00a1-\uffff_-]{{0,62}})?{_LABEL}\.)+(?:[{_AL}]{{2,63}})"
    r")(?::\d{2,5})?(?:[/?#]\S*)?$"
)
_URL_RE = re.compile(r"^(?:[\w+\-.]{2,}://)?" + _URL_HOST)
# The user-info part only when there is an "@": on long chunks without one it backtracks.
_URL_USER_RE = re.compile(r"^(?:[\w+\-.]{2,}://)?(?:\S+(?::\S*)?@)?" + _URL_HOST)


def _is_url(text: str) -> bool:
    if "." not in text:  # a host name or an IPv4 address has a dot
        return False
    return bool((_URL_USER_RE if "@" in text else _URL_RE).match(text))


_ASCII_DIGIT = re.compile("[0-9]")
_LETTER_CURRENCIES = ("US$", "C$", "A$")


def _prefix_length(text: str) -> int:
    """Length of the prefix spaCy splits off ``text`` (0: none)."""
    if text[0].isalnum():  # only the letter-led currency signs start with a letter or digit
        if text.startswith(_LETTER_CURRENCIES):
            return 3 if text[0] == "U" else 2
        return 0
    match = _PREFIX_RE.match(text)
    return match.end() if match else 0


def _suffix_length(text: str) -> int:
    """Length of the suffix spaCy splits off ``text`` (0: none): the leftmost-starting match."""
    last = text[-1]
    if last.isalpha():  # only units after a digit, and 's, end in a letter
        if not _ASCII_DIGIT.search(text):
            return 2 if text.endswith(_POSSESSIVES) else 0
    elif "0" <= last <= "9":  # no suffix ends in an ASCII digit
        return 0
    # Only a run of full stops is longer than the window: a match at the window's start may be
    # one that begins further left.
    start = max(0, len(text) - _SUFFIX_WINDOW)
    match = _SUFFIX_RE.search(text, start)  # lookbehinds still see the text before ``start``
    if match and start and match.start() == start:
        match = _SUFFIX_RE.search(text)
    return match.end() - match.start() if match else 0


_SIMPLE_PREFIXES = frozenset("([{\"'")  # split off whatever follows them
# split off what precedes them (a full stop not after every character)
_SIMPLE_SUFFIXES = frozenset(",;:!?)]}\"'.")


def _split_simple(chunk: str, specials: dict[str, tuple[str, ...]]) -> list[str] | None:
    """The split of the commonest chunks -- ASCII letters or digits with at most one bracket or
    quote before and one punctuation mark after -- without the regexes (None: not such a
    chunk). Any prefix and suffix come off; what is left splits as a special case or stays."""
    head = tail = ""
    core = chunk
    if core[0] in _SIMPLE_PREFIXES:
        head, core = core[0], core[1:]
    if core and core[-1] in _SIMPLE_SUFFIXES:
        tail, core = core[-1], core[:-1]
    if not (head or tail) or not core.isascii() or not (core.isalpha() or core.isdigit()):
        return None
    # A full stop comes off after a digit or a lower-case letter, or after two capitals.
    if tail == "." and not (
        core[-1].islower() or core[-1].isdigit() or len(core) > 1 and core[-2:].isupper()
    ):
        return None
    words = [head] if head else []
    words.extend(specials.get(core, (core,)))
    if tail:
        words.append(tail)
    return words


_NO_SPECIALS: dict[str, tuple[str, ...]] = {}


class EnglishSplitter:
    """Splits one whitespace-free chunk into words as spaCy's English tokenizer does."""

    def __init__(self) -> None:
        self.specials = special_cases()
        # Second pass: a special case whose own affix split differs from its words is glued back
        # together wherever that split appears (``f(x):`` ends in ``)`` ``:`` -> ``):``).
        self._glue: dict[str, list[tuple[tuple[str, ...], tuple[str, ...]]]] = {}
        for chunk, words in self.specials.items():
            if not (
                _prefix_length(chunk)
                or _suffix_length(chunk)
                or _INFIX_RE.search(chunk)
                or " " in chunk
            ):
                continue
            pattern = tuple(self._split(chunk, with_specials=False))
            if pattern != words and pattern:
                self._glue.setdefault(pattern[0], []).append((pattern, words))
        # Every pattern has at least two words, so a chunk can only need gluing where two of its
        # words in a row are a pattern's first two: the cheap test that rules out nearly all.
        self._glue_pairs = frozenset(
            pattern[:2] for patterns in self._glue.values() for pattern, _ in patterns
        )
        assert all(len(pair) == 2 for pair in self._glue_pairs)

    def split(self, chunk: str) -> list[str]:
        if chunk in self.specials:
            return list(self.specials[chunk])
        if chunk.isalpha() or chunk.isdigit():  # no affix, infix or URL can apply
            return [chunk]
        words = None
        if chunk[0] in _SIMPLE_PREFIXES or chunk[-1] in _SIMPLE_SUFFIXES:
            words = _split_simple(chunk, self.specials)
        if words is None:
            words = self._split(chunk, with_specials=True)
        if len(words) > 1 and self._glue:
            words = self._glue_specials(words)
        return words

    def _split(self, chunk: str, with_specials: bool) -> list[str]:
        specials = self.specials if with_specials else _NO_SPECIALS
        if chunk in specials:
            return list(specials[chunk])
        prefixes: list[str] = []
        suffixes: list[str] = []
        rest = chunk
        last = -1
        while rest and len(rest) != last:
            # letters alone have no prefix or suffix: the next round would change nothing
            if rest in specials or rest.isalpha():
                break
            last = len(rest)
            pre = _prefix_length(rest)
            if pre and rest[pre:] in specials:
                prefixes.append(rest[:pre])
                rest = rest[pre:]
                break
            suf = _suffix_length(rest[pre:]) if len(rest) > pre else 0
            if suf and rest[:-suf] in specials:
                suffixes.append(rest[-suf:])
                rest = rest[:-suf]
                break
            if pre and suf:
                prefixes.append(rest[:pre])
                suffixes.append(rest[-suf:])
                rest = rest[pre:-suf]
            elif pre:
                prefixes.append(rest[:pre])
                rest = rest[pre:]
            elif suf:
                suffixes.append(rest[-suf:])
                rest = rest[:-suf]
        words = prefixes
        if rest:
            if rest in specials:
                words.extend(specials[rest])
            elif rest.isalnum() or _is_url(rest):  # letters and digits only: no infix
                words.append(rest)
            else:
                words.extend(self._split_infixes(rest))
        words.extend(reversed(suffixes))
        return words

    @staticmethod
    def _split_infixes(text: str) -> list[str]:
        first = _INFIX_RE.search(text)
        if first is None:  # most often
            return [text]
        words: list[str] = []
        start = 0
        for match in _INFIX_RE.finditer(text, first.start()):
            begin, end = match.span()
            if begin == 0:  # an infix at the very start does not split
                continue
            if begin != start:
                words.append(text[start:begin])
            if begin != end:
                words.append(text[begin:end])
            start = end
        if text[start:]:
            words.append(text[start:])
        return words

    def _glue_specials(self, words: list[str]) -> list[str]:
        if self._glue_pairs.isdisjoint(pairwise(words)):
            return words
        matches: list[tuple[int, int, tuple[str, ...]]] = []
        for i, word in enumerate(words):
            for pattern, replacement in self._glue.get(word, ()):
                if tuple(words[i : i + len(pattern)]) == pattern:
                    matches.append((i, i + len(pattern), replacement))
        if not matches:
            return words
        # Longest first, then leftmost; a match is taken unless its ends overlap one taken.
        matches.sort(key=lambda m: (-(m[1] - m[0]), m[0]))
        seen: set[int] = set()
        chosen = []
        for start, end, replacement in matches:
            if start not in seen and end - 1 not in seen:
                chosen.append((start, end, replacement))
            seen.update(range(start, end))
        out: list[str] = []
        position = 0
        for start, end, replacement in sorted(chosen):
            out.extend(words[position:start])
            out.extend(replacement)
            position = end
        out.extend(words[position:])
        return out


# --- the lexicon: word ids and their attributes -------------------------------------------------

_MASK = (1 << 64) - 1
#: Odd multipliers of the polynomial content hash (mod 2**64) of words and word sequences.
HASH_BASE = 0x100000001B3
_CHAR_MUL = 0x9E3779B97F4A7C15
SPACE_CODE = (ord(" ") * _CHAR_MUL + 1) & _MASK


def content_hash(text: str) -> int:
    """Polynomial hash of ``text``'s characters, so hash(a + b) derives from hash(a), hash(b)."""
    h = 0
    for ch in text:
        h = (h * HASH_BASE + ord(ch) * _CHAR_MUL + 1) & _MASK
    return h


#: What a chunk does to the sentence splitter's state: (boundaries found, state after) when the
#: state before is clear, then the same when a sentence-final mark was seen with no word since.
SentenceSummary = tuple[int, bool, int, bool]


#: The per-word attributes the rules read, indexed by word id.
_ATTRIBUTES = {
    "length": np.int64,
    "symbolic": np.bool_,
    "alpha": np.bool_,
    "hash": np.uint64,
    "power": np.uint64,
}
#: Below this many new words the per-word loop beats the array code's fixed cost (measured).
_BATCH_MIN = 12


def word_attributes(words: list[str], chars: CharClasses | None = None) -> dict[str, np.ndarray]:
    """Every attribute of ``words`` (the arrays of :data:`_ATTRIBUTES`, then ``punct``: all
    characters are punctuation, spaCy's ``is_punct``; ``terminal``: a sentence-final mark)."""
    if len(words) < _BATCH_MIN:
        return word_attributes_one_by_one(words)
    return word_attributes_batch(words, chars)


def word_attributes_one_by_one(words: list[str]) -> dict[str, np.ndarray]:
    """:func:`word_attributes` a word at a time, as the definitions read (the reference)."""
    lengths = [len(w) for w in words]
    return {
        "length": np.array(lengths, dtype=np.int64),
        "symbolic": np.array([all(c in cc.SYMBOL_CHARS for c in w) for w in words], dtype=bool),
        "alpha": np.array([any(c.isalpha() for c in w) for w in words], dtype=bool),
        "hash": np.array([content_hash(w) for w in words], dtype=np.uint64),
        "power": np.array([pow(HASH_BASE, n, 1 << 64) for n in lengths], dtype=np.uint64),
        "punct": np.array([cc.is_punct(w) for w in words], dtype=bool),
        "terminal": np.array([w in cc.SENTENCIZER_TERMINALS for w in words], dtype=bool),
    }


class CharClasses:
    """The character classes the word attributes need, per code point, each classified on first
    sight and kept (a table over all of Unicode: one byte each)."""

    SYMBOL, ALPHA, PUNCT, TERMINAL, SEEN = 1, 2, 4, 8, 16

    def __init__(self) -> None:
        self.table = np.zeros(0x110000, dtype=np.uint8)

    @classmethod
    def classify(cls, char: str) -> int:
        return (
            cls.SEEN
            | cls.SYMBOL * (char in cc.SYMBOL_CHARS)
            | cls.ALPHA * char.isalpha()
            | cls.PUNCT * cc.is_punct(char)
            | cls.TERMINAL * (char in cc.SENTENCIZER_TERMINALS)
        )

    def of(self, codes: np.ndarray) -> np.ndarray:
        """The class bits of each code point in ``codes``."""
        flags = self.table[codes]
        new = codes[flags == 0]
        if len(new):
            new = np.unique(new)
            self.table[new] = [self.classify(chr(c)) for c in new.tolist()]
            flags = self.table[codes]
        return flags


def word_attributes_batch(
    words: list[str], chars: CharClasses | None = None
) -> dict[str, np.ndarray]:
    """:func:`word_attributes` for many words at once, from their joined code points.

    Each character's class bits come from ``chars`` (new characters are classified once); a
    word's flags are the and (or the or) of its characters' bits over its slice; its hash sums
    each character's term times ``HASH_BASE`` to the power of the characters after it in the
    word (mod 2**64, as uint64 arithmetic wraps).
    """
    count = len(words)
    lengths = np.fromiter(map(len, words), dtype=np.int64, count=count)
    # surrogatepass: a lone surrogate (text decoded with surrogateescape) is a code point too
    joined = "".join(words).encode("utf-32-le", "surrogatepass")
    codes = np.frombuffer(joined, dtype=np.uint32)
    classes = (chars or CharClasses()).of(codes)
    ends = np.cumsum(lengths)
    longest = int(lengths.max(initial=0))
    powers = np.empty(longest + 1, dtype=np.uint64)
    powers[0] = 1
    powers[1:] = np.uint64(HASH_BASE)
    np.multiply.accumulate(powers, out=powers)
    # the number of characters after each character in its word
    after = np.repeat(ends - 1, lengths) - np.arange(len(codes), dtype=np.int64)
    terms = (codes.astype(np.uint64) * np.uint64(_CHAR_MUL) + np.uint64(1)) * powers[after]
    # Per word: the class bits all its characters have, those some character has, the hash.
    # reduceat cannot take empty slices: reduce over the words that have characters.
    every = np.full(count, 0xFF, dtype=np.uint8)  # all() of no characters
    some = np.zeros(count, dtype=np.uint8)
    hashes = np.zeros(count, dtype=np.uint64)
    if len(codes):
        full = lengths > 0
        at = (ends - lengths)[full]
        every[full] = np.bitwise_and.reduceat(classes, at)
        some[full] = np.bitwise_or.reduceat(classes, at)
        hashes[full] = np.add.reduceat(terms, at)
    return {
        "length": lengths,
        "symbolic": every & CharClasses.SYMBOL != 0,
        "alpha": some & CharClasses.ALPHA != 0,
        "hash": hashes,
        "power": powers[lengths],
        "punct": every & CharClasses.PUNCT != 0,
        "terminal": (lengths == 1) & (every & CharClasses.TERMINAL != 0),
    }


class Lexicon:
    """Per-thread store of distinct words (ids) and chunks (their word ids), with attributes.

    Attribute arrays are indexed by word id: ``length``, ``symbolic`` (every character is a
    symbol), ``alpha`` (some character is a letter), ``hash`` (content hash) and ``power``
    (``HASH_BASE ** length``, to combine hashes). A new word only gets its id; the attributes of
    all words new since are computed together when they are next read (:meth:`arrays`, the
    sentence flags), which costs a fraction of doing it word by word. Bounded: when it holds
    more than ``max_chunks`` chunks it starts afresh between documents (results never depend on
    its contents).
    """

    def __init__(self, max_chunks: int = 1_000_000) -> None:
        self.splitter = EnglishSplitter()
        self.max_chunks = max_chunks
        self._chars = CharClasses()
        self._reset()

    def _reset(self) -> None:
        self.word_ids: dict[str, int] = {}
        self.words: list[str] = []
        self._done = 0  # words[:_done] have their attributes
        self._punct: list[bool] = []
        self._terminal: list[bool] = []
        self._columns = {name: np.zeros(1024, dtype=t) for name, t in _ATTRIBUTES.items()}
        self.chunks: _ChunkCache = _ChunkCache(self)
        self.sentence_chunks: dict[str, SentenceSummary] = {}

    def maybe_reset(self) -> None:
        """Start afresh if the caches have grown past their bound (call between documents)."""
        if len(self.chunks) > self.max_chunks:
            self._reset()

    def word_id(self, word: str) -> int:
        index = self.word_ids.get(word)
        if index is None:
            index = self.word_ids[word] = len(self.words)
            self.words.append(word)
        return index

    def _complete(self) -> None:
        """Compute the attributes of the words that have none yet."""
        done, size = self._done, len(self.words)
        if done == size:
            return
        capacity = len(self._columns["length"])
        if size > capacity:
            while capacity < size:
                capacity *= 2
            grown = {name: np.zeros(capacity, dtype=t) for name, t in _ATTRIBUTES.items()}
            for name, column in grown.items():
                column[:done] = self._columns[name][:done]
            self._columns = grown
        values = word_attributes(self.words[done:size], self._chars)
        for name, column in self._columns.items():
            column[done:size] = values[name]
        self._punct.extend(values["punct"].tolist())
        self._terminal.extend(values["terminal"].tolist())
        self._done = size

    def arrays(self) -> dict[str, np.ndarray]:
        """The attribute arrays, covering every word id handed out so far."""
        self._complete()
        size = len(self.words)
        return {name: column[:size] for name, column in self._columns.items()}

    def ids(self, text: str) -> np.ndarray:
        """Word ids of ``text`` in order (whitespace is not a word)."""
        packed = b"".join(map(self.chunks.__getitem__, text.split()))
        return np.frombuffer(packed, dtype=np.int64).copy()  # a copy: writable, as before

    def whitespace_ids(self, text: str) -> np.ndarray:
        """Word ids of ``text``'s whitespace-separated words, punctuation attached (the words
        the Gopher paper counts)."""
        known = self.word_ids
        word_id = self.word_id
        return np.fromiter(
            (known[w] if w in known else word_id(w) for w in text.split()), dtype=np.int64
        )

    def split_words(self, text: str) -> list[str]:
        """The words of ``text`` as strings (what datatrove's ``split_into_words`` returns)."""
        words = self.words
        return [words[i] for i in self.ids(text).tolist()]

    def sentence_summary(self, chunk: str) -> SentenceSummary:
        summary = self.sentence_chunks.get(chunk)
        if summary is None:
            ids = memoryview(self.chunks[chunk]).cast("q")
            self._complete()
            flags = [(self._punct[i], self._terminal[i]) for i in ids]
            summary = (*_run_sentencizer(flags, False), *_run_sentencizer(flags, True))
            self.sentence_chunks[chunk] = summary
        return summary


def _run_sentencizer(flags: Iterable[tuple[bool, bool]], seen: bool) -> tuple[int, bool]:
    """spaCy's rule-based sentencizer over (is_punct, is_terminal) word flags: a sentence ends
    after a terminal mark, at the first following word that is not punctuation."""
    boundaries = 0
    for punct, terminal in flags:
        if seen and not punct and not terminal:
            boundaries += 1
            seen = False
        elif terminal:
            seen = True
    return boundaries, seen


class _ChunkCache(dict[str, bytes]):
    """chunk -> its word ids packed as int64 (so a text's ids join without a Python int per
    word), splitting on first sight."""

    def __init__(self, lexicon: Lexicon) -> None:
        super().__init__()
        self._split = lexicon.splitter.split
        self._word_id = lexicon.word_id

    def __missing__(self, chunk: str) -> bytes:
        ids = array("q", map(self._word_id, self._split(chunk))).tobytes()
        self[chunk] = ids
        return ids


_WHITESPACE_RUN = re.compile(r"(\s+)")


def count_sentences(lexicon: Lexicon, line: str) -> int:
    """Sentences in one line as spaCy's sentencizer finds them (a line with no words: 0).

    Words are the line's chunks' words; a run of whitespace other than one plain space after a
    chunk is a word of its own for the sentencizer (spaCy keeps it as a whitespace token).
    """
    chunks = line.split(" ")
    if "" in chunks or len(chunks) != len(line.split()):  # other whitespace than single spaces
        return _count_sentences_spaced(lexicon, line)
    summaries = lexicon.sentence_chunks
    boundaries = 0
    seen = False
    for chunk in chunks:
        summary = summaries.get(chunk) or lexicon.sentence_summary(chunk)
        # the summary holds (boundaries, seen) from a fresh start, then after a terminal mark
        at = 2 if seen else 0
        boundaries += summary[at]
        seen = summary[at + 1]
    return boundaries + 1


def _count_sentences_spaced(lexicon: Lexicon, line: str) -> int:
    parts = _WHITESPACE_RUN.split(line)
    boundaries = 0
    seen = False
    tokens = 0
    for index, part in enumerate(parts):
        if not part:
            continue
        if index % 2:  # whitespace: a word unless it is one space after a chunk
            if part != " " or index == 1 and not parts[0]:
                tokens += 1
                if seen:
                    boundaries += 1
                    seen = False
            continue
        summary = lexicon.sentence_summary(part)
        tokens += 1
        at = 2 if seen else 0
        boundaries += summary[at]
        seen = summary[at + 1]
    return boundaries + 1 if tokens else 0


_LOCAL = threading.local()


def lexicon() -> Lexicon:
    """This thread's lexicon, created on first use (so stages pickle without it, and threads of
    one process never share mutable caches)."""
    found = getattr(_LOCAL, "lexicon", None)
    if found is None:
        found = _LOCAL.lexicon = Lexicon()
    return found


def split_into_words(text: str) -> list[str]:
    """The words of ``text`` (spaCy English splitting, whitespace dropped)."""
    return lexicon().split_words(text)
