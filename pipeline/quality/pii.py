"""PII replacement: e-mail addresses and public IP addresses become fixed placeholders.

As datatrove's PIIFormatter, dolma's PII tagger and NeMo Curator's PII modifier do for web text:
an e-mail address (``local@host.tld``) and an IPv4 address that is globally routable (private,
loopback, link-local, documentation and reserved ranges are left alone: they identify no one,
and version strings like ``1.2.3.4`` are usually in them or not addresses at all) are replaced.
The placeholders are addresses reserved for documentation, so the text still reads naturally,
and a replacement is deterministic (datatrove rotates through a list; here the same input
always gives the same output). The number of replacements per document is kept as a signal.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass

from pipeline.quality.config import PIIConfig

# An address is found from its "@" (a literal the regex engine finds fast): the host after it is
# dotted labels ending in a letters-only top-level label; the local part before it (at most 64
# characters, RFC 5321) is dot-separated runs of the characters RFC 5322 allows unquoted, less
# the quote and backtick (in practice they quote the address, as in `x = 'a@b.org'`).
_AT_HOST = re.compile(
    r"@(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,63}(?![\w-])"
)
_LOCAL_PART = re.compile(
    r"(?<![\w.+-])[A-Za-z0-9!#$%&*+/=?^_{|}~-]+(?:\.[A-Za-z0-9!#$%&*+/=?^_{|}~-]+)*\Z"
)
_LOCAL_MAX = 64
# Four dotted numbers of 1-3 digits, not inside a longer dotted or alphanumeric run (so not a
# part of 1.2.3.4.5 or of a1.2.3.4), and not a numbered heading ("4.8.3.1. Keyword arguments"
# at the start of a line); the octets are checked by the ipaddress module.
_DOTTED_QUAD = re.compile(r"\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3}")
_WORDLIKE = re.compile(r"[\w.]")


@dataclass(frozen=True)
class Redacted:
    text: str
    emails: int
    ips: int


def _is_public(address: str) -> bool:
    try:
        return ipaddress.ip_address(address).is_global
    except ValueError:  # an octet over 255, or a leading zero
        return False


def _replace_emails(text: str, placeholder: str) -> tuple[str, int]:
    pieces: list[str] = []
    done = 0  # text[:done] is already in pieces
    count = 0
    for host in _AT_HOST.finditer(text):
        at = host.start()
        local = _LOCAL_PART.search(text, max(done, at - _LOCAL_MAX), at)
        if local is None:
            continue
        address = text[local.start() : host.end()]
        pieces.append(text[done : local.start()])
        pieces.append(placeholder)
        count += address != placeholder
        done = host.end()
    return ("".join(pieces) + text[done:], count) if pieces else (text, 0)


def _replace_ips(text: str, placeholder: str) -> tuple[str, int]:
    pieces: list[str] = []
    done = 0
    count = 0
    for match in _DOTTED_QUAD.finditer(text):
        start, end = match.span()
        if start and _WORDLIKE.match(text[start - 1]):
            continue
        after = text[end : end + 2]
        if after[:1].isalnum() or after[:1] == "_" or (after[:1] == "." and after[1:].isalnum()):
            continue
        if after[:1] == "." and (start == 0 or text[start - 1] == "\n"):
            continue
        if not _is_public(match.group(0)):
            continue
        pieces.append(text[done:start])
        pieces.append(placeholder)
        count += 1
        done = end
    return ("".join(pieces) + text[done:], count) if pieces else (text, 0)


def redact(text: str, config: PIIConfig) -> Redacted:
    """``text`` with e-mail and public IP addresses replaced, and how many of each."""
    emails = ips = 0
    if config.emails and "@" in text:
        text, emails = _replace_emails(text, config.email_placeholder)
    if config.ips:
        text, ips = _replace_ips(text, config.ip_placeholder)
    return Redacted(text, emails, ips)
