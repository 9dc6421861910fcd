"""Turning bytes into text: a declared codec strictly, or detection for ``encoding: auto``.

Detection order for ``auto``: a byte-order mark (UTF-8, UTF-16, UTF-32) wins; then strict UTF-8
(by far the commonest encoding, and valid UTF-8 is almost never anything else); then
charset-normalizer's best guess over the bytes. When nothing fits, :class:`Undecodable` names
the codec tried and the byte where it failed, so the reader can skip the record with that reason.
"""

from __future__ import annotations

import codecs

_BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32"),
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)
#: Bytes charset-normalizer looks at: enough for a confident guess, bounded for huge books.
DETECT_BYTES = 1 << 20
#: Below this many bytes charset-normalizer's statistics are noise ("café" comes out as cp1006).
GUESS_MIN_BYTES = 256
#: Chaos (charset-normalizer's measure of implausible characters) within which guesses tie.
TIE_CHAOS = 0.05
#: Legacy encodings, commonest first (by their share of the web), for breaking ties.
PREVALENCE = (
    "cp1252",
    "iso8859-1",
    "cp1251",
    "shift_jis",
    "euc_jp",
    "gb18030",
    "gb2312",
    "big5",
    "euc_kr",
    "cp1250",
    "iso8859-2",
    "cp1256",
    "cp1253",
    "cp1254",
    "cp1255",
    "koi8-r",
    "cp874",
    "cp1257",
    "cp1258",
    "iso8859-15",
)


class Undecodable(ValueError):
    """The bytes are not text in the declared (or any detected) encoding."""

    def __init__(self, message: str, codec: str, position: int | None = None) -> None:
        super().__init__(message)
        self.codec = codec
        self.position = position


def bom_codec(data: bytes) -> str | None:
    """The codec a leading byte-order mark announces, or None."""
    for bom, codec in _BOMS:
        if data.startswith(bom):
            return codec
    return None


def guess_codec(data: bytes) -> str | None:
    """charset-normalizer's best guess for ``data`` (None when it finds no plausible text)."""
    from charset_normalizer import from_bytes

    if len(data) < GUESS_MIN_BYTES:
        # Too little text for statistics: windows-1252, the commonest legacy encoding.
        try:
            data.decode("cp1252")
        except UnicodeDecodeError:
            return None
        return "cp1252"
    sample = data[:DETECT_BYTES]
    has_nuls = sample.count(0) * 100 >= len(sample)
    plausible = []
    for match in from_bytes(sample):
        codec = codecs.lookup(match.encoding).name
        # UTF-16/32 without a byte-order mark show NULs (ASCII) or are vanishingly rare; short
        # Latin-1 text is often "detected" as them, so they need the NULs to be believed.
        if codec.startswith(("utf-16", "utf-32")) and not has_nuls:
            continue
        plausible.append((match.chaos, codec))
    if not plausible:
        return None
    # Near-ties are common between single-byte code pages (French in cp1252 scores as well in
    # cp1257); break them by how common each encoding is in the wild.
    best = plausible[0][0]
    close = [codec for chaos, codec in plausible if chaos <= best + TIE_CHAOS]
    return min(close, key=lambda c: PREVALENCE.index(c) if c in PREVALENCE else len(PREVALENCE))


def lenient_decode(data: bytes, codec: str) -> str:
    """``data`` decoded with ``codec``, bytes that do not decode as U+FFFD -- never raising.

    Some text codecs cannot replace (``idna``, ``punycode``) or refuse every input
    (``undefined``); for those the bytes are read as UTF-8 instead, so a page or a record that
    names such a charset is still shown as well as it can be.
    """
    try:
        return data.decode(codec, errors="replace")
    except (UnicodeError, LookupError, ValueError):
        return data.decode("utf-8", errors="replace")


def decode(data: bytes, encoding: str = "auto") -> tuple[str, str]:
    """``(text, codec)`` for ``data``; raises :class:`Undecodable`.

    A byte-order mark is removed from the text; ``codec`` is Python's name for what was used.
    """
    if encoding != "auto":
        codec = codecs.lookup(encoding).name
        try:
            return data.decode(codec).removeprefix("\ufeff"), codec
        except UnicodeDecodeError as error:
            raise Undecodable(
                f"not valid {encoding} at byte {error.start}: {error.reason}", codec, error.start
            ) from None
        except UnicodeError as error:  # codecs such as idna raise the base class
            raise Undecodable(f"not valid {encoding}: {error}", codec) from None
    bom = bom_codec(data)
    if bom is not None:
        return _strict(data, bom, "(from its byte-order mark)")
    try:
        return data.decode("utf-8"), "utf-8"
    except UnicodeDecodeError as error:
        utf8_error = error
    guessed = guess_codec(data)
    if guessed is None or guessed == "utf-8":
        raise Undecodable(
            f"not valid UTF-8 at byte {utf8_error.start} and no other encoding fits",
            "utf-8",
            utf8_error.start,
        )
    return _strict(data, guessed, "(detected)")


def _strict(data: bytes, codec: str, how: str) -> tuple[str, str]:
    try:
        return data.decode(codec).removeprefix("\ufeff"), codecs.lookup(codec).name
    except UnicodeDecodeError as error:
        raise Undecodable(
            f"not valid {codec} {how} at byte {error.start}: {error.reason}", codec, error.start
        ) from None
