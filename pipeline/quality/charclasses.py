"""Character sets the quality rules share: letters by case, punctuation, symbols, terminals.

Two families live here:

* the classes the English word splitter (:mod:`pipeline.quality.words`) needs to split words as
  spaCy's English tokenizer does -- letters of the scripts spaCy lists, split by case, with the
  uncased scripts (CJK, Arabic, Indic, ...) counted as both cases, the way spaCy's
  ``char_classes`` define them;
* the sets the rules compare against: :data:`SYMBOL_CHARS` (a "word" made only of these is not a
  word for Gopher's word count, as datatrove counts) and :data:`SENTENCE_TERMINALS` (Unicode's
  Sentence_Terminal characters, which FineWeb's line-punctuation rule and the sentence splitter
  use).

Everything is built once at import from code-point ranges, so ``re`` (no third-party regex engine)
can use them.
"""

from __future__ import annotations

import re
import unicodedata

Range = tuple[int, int]

#: Cased alphabets spaCy treats as letters: Latin (basic, fullwidth, Latin-1, Extended A-E,
#: phonetic, Vietnamese diacritics), Cyrillic as used by Russian/Tatar/Ukrainian/Macedonian, Greek.
_CASED_RANGES: tuple[Range, ...] = (
    (0x41, 0x5A),
    (0x61, 0x7A),
    (0xFF21, 0xFF3A),
    (0xFF41, 0xFF5A),
    (0xC0, 0xD6),
    (0xD8, 0xF6),
    (0xF8, 0xFF),
    (0x100, 0x17F),
    (0x180, 0x1BF),
    (0x1C4, 0x24F),
    (0x2C60, 0x2C7B),
    (0x2C7E, 0x2C7F),
    (0xA722, 0xA76F),
    (0xA771, 0xA787),
    (0xA78B, 0xA78E),
    (0xA790, 0xA7B9),
    (0xA7FA, 0xA7FA),
    (0xAB30, 0xAB5A),
    (0xAB60, 0xAB64),
    (0x250, 0x2AF),
    (0x1D00, 0x1D25),
    (0x1D6B, 0x1D77),
    (0x1D79, 0x1D9A),
    (0x1E00, 0x1EFF),
    (0x410, 0x44F),
    (0x401, 0x401),
    (0x451, 0x451),  # Russian а-я А-Я ё Ё
    (0x3B1, 0x3C9),
    (0x391, 0x3A9),  # Greek α-ω Α-Ω
)
_CASED_EXTRA = "әөүҗңһӘӨҮҖҢҺάέίόώήύΆΈΊΌΏΉΎіїєґІЇЄҐѓѕјљњќѐѝЃЅЈЉЊЌЀЍ"

#: Scripts without case, which spaCy counts as both lower and upper case: Ethiopic, Bengali,
#: Hebrew, Arabic/Persian, Sinhala, Devanagari, Kannada, Tamil, Telugu, Hangul, Kana, CJK.
_UNCASED_RANGES: tuple[Range, ...] = (
    (0x1200, 0x137F),
    (0x980, 0x9FF),
    (0x591, 0x5F4),
    (0xFB1D, 0xFB4F),
    (0x620, 0x64A),
    (0x66E, 0x6D5),
    (0x6E5, 0x6FF),
    (0x750, 0x77F),
    (0x8A0, 0x8BD),
    (0xFB50, 0xFBB1),
    (0xFBD3, 0xFD3D),
    (0xFD50, 0xFDC7),
    (0xFDF0, 0xFDFB),
    (0xFE70, 0xFEFC),
    (0x1EE00, 0x1EEBB),
    (0xD80, 0xDFF),
    (0x900, 0x97F),
    (0xC80, 0xCFF),
    (0xB80, 0xBFF),
    (0xC00, 0xC7F),
    (0xAC00, 0xD7AF),
    (0x1100, 0x11FF),
    (0x3040, 0x309F),
    (0x30A0, 0x30FF),
    (0x4E00, 0x9FFF),
    (0x3400, 0x4DBF),
    (0x20000, 0x2A6DF),
    (0x2A700, 0x2EBEF),
    (0x2E80, 0x2EFF),
    (0x2F00, 0x2FDF),
    (0x2FF0, 0x2FFF),
    (0x3000, 0x303F),
    (0x31C0, 0x31EF),
    (0x3200, 0x32FF),
    (0x3300, 0x33FF),
    (0xF900, 0xFAFF),
    (0xFE30, 0xFE4F),
    (0x1F200, 0x1F2FF),
    (0x2F800, 0x2FA1F),
)


def _cased_chars() -> list[str]:
    chars = [chr(c) for lo, hi in _CASED_RANGES for c in range(lo, hi + 1)]
    return sorted(set(chars) | set(_CASED_EXTRA))


def _class(chars: list[str] | str, ranges: tuple[Range, ...] = ()) -> str:
    """The body of a ``[...]`` character class for ``chars`` plus whole ``ranges``."""
    codes = sorted({ord(c) for c in chars})
    parts: list[str] = []
    start = prev = None
    for code in [*codes, None]:
        if code is not None and prev is not None and code == prev + 1:
            prev = code
            continue
        if start is not None and prev is not None:
            parts.append(_escape(start) if start == prev else f"{_escape(start)}-{_escape(prev)}")
        start = prev = code
    parts.extend(f"{_escape(lo)}-{_escape(hi)}" for lo, hi in ranges)
    return "".join(parts)


def _escape(code: int) -> str:
    return f"\\U{code:08X}" if code > 0xFFFF else f"\\u{code:04X}"


_CASED = _cased_chars()
# The two code points spaCy files under one case although Python calls them neither.
ALPHA = _class(_CASED, _UNCASED_RANGES)
ALPHA_LOWER = _class([c for c in _CASED if c.islower() or c == "\u0294"], _UNCASED_RANGES)
ALPHA_UPPER = _class([c for c in _CASED if c.isupper() or c == "\u03a2"], _UNCASED_RANGES)

#: Other symbols (Unicode category So): dingbats, arrows, box drawing, emoji. spaCy splits them
#: off words as prefixes, suffixes and infixes.
ICONS = _class([chr(c) for c in range(0x110000) if unicodedata.category(chr(c)) == "So"])

#: spaCy's punctuation list: split off as a prefix or suffix.
PUNCT_LIST = (
    "…",
    "……",
    ",",
    ":",
    ";",
    "!",
    "?",
    "¿",
    "؟",
    "¡",
    "(",
    ")",
    "[",
    "]",
    "{",
    "}",
    "<",
    ">",
    "_",
    "#",
    "*",
    "&",
    "。",
    "？",
    "！",
    "，",
    "、",
    "；",
    "：",
    "～",
    "·",
    "।",
    "،",
    "۔",
    "؛",
    "٪",
)
QUOTES_LIST = (
    "'",
    '"',
    "”",
    "“",
    "`",
    "‘",
    "´",
    "’",
    "‚",
    ",",
    "„",
    "»",
    "«",
    "「",
    "」",
    "『",
    "』",
    "（",
    "）",
    "〔",
    "〕",
    "【",
    "】",
    "《",
    "》",
    "〈",
    "〉",
    "〈",
    "〉",
    "⟦",
    "⟧",
)
CURRENCY_LIST = (
    "$",
    "£",
    "€",
    "¥",
    "฿",
    "US$",
    "C$",
    "A$",
    "₽",
    "﷼",
    "₴",
    *(chr(c) for c in range(0x20A0, 0x20C0)),
)
HYPHENS_LIST = ("-", "–", "—", "--", "---", "——", "~")
_UNITS = (
    "km km² km³ m m² m³ dm dm² dm³ cm cm² cm³ mm mm² mm³ ha µm nm yd in ft kg g mg µg t lb oz "
    "m/s km/h kmh mph hPa Pa mbar mb MB kb KB gb GB tb TB T G M K % км км² км³ м м² м³ дм дм² "
    "дм³ см см² см³ мм мм² мм³ нм кг г мг м/с км/ч кПа Па мбар Кб КБ кб Мб МБ мб Гб ГБ гб Тб ТБ "
    "тбكم كم² كم³ م م² م³ سم سم² سم³ مم مم² مم³ كم غرام جرام جم كغ ملغ كوب اكواب"
)
UNITS_LIST = tuple(_UNITS.split())

#: Characters a token may consist of entirely and still not count as a word for Gopher's
#: word-count and mean-length rules: ASCII punctuation, the common typographic and CJK
#: punctuation marks, C0/C1 control characters and the sentence terminals below.
_SYMBOLS_TYPOGRAPHIC = "—–“”„’´«»…►━∶、。，；：？！（）％．～〈〉《》「」【】１"
_CONTROL = [chr(c) for c in (*range(0, 9), 11, 12, *range(13, 32), *range(127, 160))]

#: Unicode's Sentence_Terminal characters (full stops, question and exclamation marks of every
#: script), as datatrove's TERMINAL_PUNCTUATION and spaCy's sentencizer list them.
SENTENCE_TERMINALS = frozenset(
    "!.?։؝؞؟۔܀܁܂߹࠷࠹࠽࠾।॥၊။።፧፨᙮᜵᜶᠃᠉᥄᥅᪨᪩᪪᪫᭚᭛᭞᭟᭽᭾᰻᰼᱾᱿‼‽⁇⁈⁉⸮⸼⹓⹔꓿꘎꘏꛳꛷꡶꡷꣎꣏꤯꧈꧉꩝꩞꩟꫰꫱꯫"
    "﹒﹖﹗！．？｡。"
    "\U00010a56\U00010a57\U00010f55\U00010f56\U00010f57\U00010f58\U00010f59\U00010f86"
    "\U00010f87\U00010f88\U00010f89\U00011047\U00011048\U000110be\U000110bf\U000110c0"
    "\U000110c1\U00011141\U00011142\U00011143\U000111c5\U000111c6\U000111cd\U000111de"
    "\U000111df\U00011238\U00011239\U0001123b\U0001123c\U000112a9\U0001144b\U0001144c"
    "\U000115c2\U000115c3\U000115c9\U000115ca\U000115cb\U000115cc\U000115cd\U000115ce"
    "\U000115cf\U000115d0\U000115d1\U000115d2\U000115d3\U000115d4\U000115d5\U000115d6"
    "\U000115d7\U00011641\U00011642\U0001173c\U0001173d\U0001173e\U00011944\U00011946"
    "\U00011a42\U00011a43\U00011a9b\U00011a9c\U00011c41\U00011c42\U00011ef7\U00011ef8"
    "\U00011f43\U00011f44\U00016a6e\U00016a6f\U00016af5\U00016b37\U00016b38\U00016b44"
    "\U00016e98\U0001bc9f\U0001da88"
    "\u17d4\u17d5\u17d6\u17d9\u17da"  # Khmer, which datatrove lists too
)

#: The terminals spaCy's rule-based sentencizer splits after: the same list from an older
#: Unicode release, without the marks added since (and without Khmer).
SENTENCIZER_TERMINALS = SENTENCE_TERMINALS - frozenset(
    "\u061d\u061e\u0837\u0839\u083d\u083e\u17d4\u17d5\u17d6\u17d9\u17da\u1b7d\u1b7e"
    "\u2e53\u2e54\U00010f55\U00010f56\U00010f57\U00010f58\U00010f59\U00010f86"
    "\U00010f87\U00010f88\U00010f89\U00011944\U00011946\U00011ef7\U00011ef8"
    "\U00011f43\U00011f44\U00016e98"
)

SYMBOL_CHARS = (
    frozenset("!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~" + _SYMBOLS_TYPOGRAPHIC + "".join(_CONTROL))
    | SENTENCE_TERMINALS
)


def is_punct(token: str) -> bool:
    """spaCy's ``is_punct``: every character is in a Unicode punctuation category (P*)."""
    return all(unicodedata.category(c).startswith("P") for c in token)


def alternation(items: tuple[str, ...] | list[str]) -> str:
    """A regex alternation matching any of ``items`` literally, in the given order."""
    return "|".join(re.escape(item) for item in items)
