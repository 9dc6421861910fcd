"""A source file's licence: its SPDX header, else the nearest LICENSE file of its repository.

An ``SPDX-License-Identifier:`` line near the top of a file names its licence exactly. Files
without one inherit the licence of the nearest licence file (``LICENSE``, ``LICENCE``,
``COPYING``, with or without an extension) in their folder or an ancestor folder of the tree;
that file's text is matched against the characteristic sentences of common licences. What is
not recognised is reported as ``LicenseRef-unknown`` with the licence file's path, so a user
can look rather than trust a guess.
"""

from __future__ import annotations

import posixpath
import re

_SPDX = re.compile(r"SPDX-License-Identifier:\s*([A-Za-z0-9.+\-() ]+?)\s*(?:\*/|-->|#|$)", re.M)
#: Lines of a file searched for an SPDX header.
SPDX_HEADER_LINES = 30
LICENSE_NAMES = re.compile(r"^(LICEN[CS]E|COPYING|UNLICENSE)([.-][A-Za-z0-9.-]*)?$", re.I)

#: (SPDX id, phrases that must all appear, lower-cased and whitespace-folded); first match wins.
_GNU_TITLE = re.compile(
    r"gnu (affero|lesser|library)? ?general public license\W+version (\d(?:\.\d)?)"
)
_GNU_IDS = {"affero": "AGPL", "lesser": "LGPL", "library": "LGPL", None: "GPL"}
SIGNATURES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("Apache-2.0", ("apache license", "version 2.0")),
    ("MPL-2.0", ("mozilla public license", "2.0")),
    ("EPL-2.0", ("eclipse public license", "2.0")),
    ("BSL-1.0", ("boost software license", "version 1.0")),
    ("Unlicense", ("this is free and unencumbered software released into the public domain",)),
    ("CC0-1.0", ("cc0 1.0 universal",)),
    ("PSF-2.0", ("python software foundation license",)),
    ("Zlib", ("this software is provided 'as-is'", "altered source versions must be plainly")),
    ("BSD-3-Clause", ("redistribution and use in source and binary forms", "neither the name")),
    ("BSD-2-Clause", ("redistribution and use in source and binary forms",)),
    ("ISC", ("permission to use, copy, modify, and/or distribute this software for any purpose",)),
    ("ISC", ("permission to use, copy, modify, and distribute this software for any purpose",)),
    ("MIT", ("permission is hereby granted, free of charge",)),
)

_SPACES = re.compile(r"\s+")
TITLE_CHARS = 600


def _gnu_license(head: str) -> str | None:
    """GPL, LGPL or AGPL and version from the title at the top of a GNU licence (their bodies
    name each other -- "use the GNU Lesser General Public License instead" -- so only the first
    title counts)."""
    match = _GNU_TITLE.search(head)
    if not match:
        return None
    version = match.group(2) if "." in match.group(2) else match.group(2) + ".0"
    return f"{_GNU_IDS[match.group(1)]}-{version}"


def spdx_header(text: str) -> str | None:
    """The SPDX expression declared in the first lines of ``text``, if any."""
    head = "\n".join(text.split("\n", SPDX_HEADER_LINES)[:SPDX_HEADER_LINES])
    match = _SPDX.search(head)
    return match.group(1).strip() if match else None


def is_license_file(rel: str) -> bool:
    return bool(LICENSE_NAMES.match(rel.rsplit("/", 1)[-1]))


def identify_license(text: str) -> str:
    """The SPDX id of a licence text, or ``LicenseRef-unknown``."""
    folded = _SPACES.sub(" ", text[:20000].lower())
    declared = spdx_header(text)
    if declared:
        return declared
    gnu = _gnu_license(folded[:TITLE_CHARS])
    if gnu:
        return gnu
    for spdx, phrases in SIGNATURES:
        if all(phrase in folded for phrase in phrases):
            return spdx
    return "LicenseRef-unknown"


class LicenseIndex:
    """Licence files of a tree by folder; answers "which licence governs this file"."""

    def __init__(self) -> None:
        self._by_folder: dict[str, tuple[str, str]] = {}  # folder -> (spdx, licence file path)

    def add(self, rel: str, text: str) -> None:
        folder = posixpath.dirname(rel)
        spdx = identify_license(text)
        known = self._by_folder.get(folder)
        # Several licence files in one folder (LICENSE, COPYING.LESSER): the first recognised.
        if known is None or (known[0] == "LicenseRef-unknown" and spdx != known[0]):
            self._by_folder[folder] = (spdx, rel)

    def __len__(self) -> int:
        return len(self._by_folder)

    def governing(self, rel: str) -> tuple[str, str] | None:
        """``(spdx, licence file)`` of the nearest licence file at or above ``rel``'s folder."""
        folder = posixpath.dirname(rel)
        while True:
            if folder in self._by_folder:
                return self._by_folder[folder]
            if not folder:
                return None
            folder = posixpath.dirname(folder)


def file_license(text: str, rel: str, index: LicenseIndex) -> dict[str, str]:
    """``meta`` entries saying the file's licence and where that was read."""
    declared = spdx_header(text)
    if declared:
        return {"license": declared, "license_source": "spdx_header"}
    found = index.governing(rel)
    if found:
        return {"license": found[0], "license_source": found[1]}
    return {}
