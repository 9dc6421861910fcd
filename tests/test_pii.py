"""PII replacement: which e-mail and IP addresses are replaced, by what, and how they are
counted."""

from __future__ import annotations

import pytest

from pipeline.quality.config import PIIConfig
from pipeline.quality.pii import redact

DEFAULT = PIIConfig()


@pytest.mark.parametrize(
    ("text", "expected", "emails"),
    [
        ("Mail jane.doe@example.org now.", "Mail email@example.com now.", 1),
        ("<bob+list@lists.debian.org>", "<email@example.com>", 1),
        ("author_email='gward@python.net',", "author_email='email@example.com',", 1),
        ("a@b.c and x@y", "a@b.c and x@y", 0),  # no real top-level label
        ("@property and user@localhost", "@property and user@localhost", 0),
        ("Already email@example.com.", "Already email@example.com.", 0),  # not recounted
    ],
)
def test_email_addresses(text: str, expected: str, emails: int) -> None:
    result = redact(text, DEFAULT)
    assert (result.text, result.emails) == (expected, emails)


@pytest.mark.parametrize(
    ("text", "expected", "ips"),
    [
        ("ping 8.8.8.8 now", "ping 192.0.2.1 now", 1),
        ("ends at 8.8.4.4.", "ends at 192.0.2.1.", 1),
        ("host 192.168.1.10 and 10.0.0.1", "host 192.168.1.10 and 10.0.0.1", 0),  # private
        ("127.0.0.1 is home", "127.0.0.1 is home", 0),
        ("version 1.2.3.4.5", "version 1.2.3.4.5", 0),  # part of a longer dotted number
        ("v8.8.8.8 and 8.8.8.8a", "v8.8.8.8 and 8.8.8.8a", 0),
        ("4.8.3.1. Keyword arguments", "4.8.3.1. Keyword arguments", 0),  # a numbered heading
        ("300.1.1.1", "300.1.1.1", 0),  # not an address
    ],
)
def test_public_ip_addresses(text: str, expected: str, ips: int) -> None:
    result = redact(text, DEFAULT)
    assert (result.text, result.ips) == (expected, ips)


def test_each_kind_and_placeholder_is_configurable() -> None:
    text = "Write to a@example.net from 8.8.8.8."
    assert redact(text, PIIConfig(emails=False)).text == "Write to a@example.net from 192.0.2.1."
    assert redact(text, PIIConfig(ips=False)).text == "Write to email@example.com from 8.8.8.8."
    custom = PIIConfig(email_placeholder="<EMAIL>", ip_placeholder="<IP>")
    assert redact(text, custom).text == "Write to <EMAIL> from <IP>."


def test_replacement_is_deterministic() -> None:
    text = "a@example.net b@example.net 8.8.8.8 1.1.1.1"
    assert redact(text, DEFAULT) == redact(text, DEFAULT)
    assert redact(text, DEFAULT).text == ("email@example.com email@example.com 192.0.2.1 192.0.2.1")
