"""Format ``code``: one document per source file of a folder, a git checkout, an archive, or a
single file.

A source path is one unit of work whatever it expands to: a folder or checkout is listed by
:mod:`pipeline.ingest.trees` (tracked files only for a checkout), an archive (zip, or tar
compressed any way) is read member by member by :mod:`pipeline.ingest.archives`, never extracted.
A repository is one unit because its licence files govern all of its files, and because a task
per small file would cost more in scheduling than in reading; partitions still cap memory.

Every file is accounted for: a document, or a skip with its reason -- ``symlink`` (and
``symlink_loop`` / ``symlink_escape`` when following links), ``unsafe_path`` (an archive name
that escapes it), ``vendored``, ``license_file``, ``lock_file``, ``generated``, ``minified``,
``too_large`` (over ``code.max_file_bytes``), ``binary`` (NUL bytes), ``undecodable``, ``empty``,
``unknown_extension`` (no language from name, extension or shebang), ``decompression_bomb``.
``meta`` carries the repository-relative path, the language and the licence (SPDX header, else
the nearest LICENSE file).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from pipeline.ingest.archives import ArchiveError, Member, is_archive_name, iter_archive
from pipeline.ingest.code_filters import content_reason, name_reason
from pipeline.ingest.code_languages import language_from_name, language_from_shebang
from pipeline.ingest.code_licenses import LicenseIndex, file_license, is_license_file
from pipeline.ingest.compression import DecompressionBomb, StreamDamage
from pipeline.ingest.encoding import Undecodable, decode
from pipeline.ingest.records import Record, Skipped, Unit, is_blank, make_document
from pipeline.ingest.trees import Entry, TreeError, git_head, is_git_checkout, walk_folder, walk_git

#: Licence files larger than this are not licence texts.
LICENSE_MAX_BYTES = 1 << 18
#: git's rule: a NUL among the first 8000 bytes makes a file binary.
BINARY_PROBE_BYTES = 8000

Read = Callable[[int], bytes]


class _Repo:
    """What every file of one unit shares: where it is, its licences, its commit."""

    def __init__(
        self, unit: Unit, licenses: LicenseIndex, commit: str | None, single: bool = False
    ) -> None:
        self.unit = unit
        self.licenses = licenses
        self.commit = commit
        self.single = single  # the unit is one file, not a tree

    def location(self, rel: str) -> str:
        return self.unit.rel_path if self.single else f"{self.unit.rel_path}/{rel}"

    def skip(self, rel: str, reason: str, detail: str = "", text: str = "") -> Skipped:
        location = self.location(rel)
        meta: dict[str, Any] = {"location": location, "repo_path": rel}
        if detail:
            meta["error"] = f"{location}: {detail}"
        return Skipped(location, reason, text, meta, path=location)


def _file_record(repo: _Repo, rel: str, kind: str, size: int, read: Read) -> Record:
    source = repo.unit.source
    options = source.code
    if kind != "file":
        return repo.skip(rel, kind)
    if any(part in options.vendored_dirs for part in rel.split("/")[:-1]):
        return repo.skip(rel, "vendored")  # (trees mark these when listing; archives here)
    if is_license_file(rel):
        return repo.skip(rel, "license_file")
    reason = name_reason(rel)
    if reason:
        return repo.skip(rel, reason)
    if size > options.max_file_bytes:
        return repo.skip(
            rel,
            "too_large",
            f"{size:,} bytes, more than code.max_file_bytes ({options.max_file_bytes:,})",
        )
    data = read(options.max_file_bytes)
    if len(data) > options.max_file_bytes:  # the declared size was wrong
        return repo.skip(
            rel, "too_large", f"more than code.max_file_bytes ({options.max_file_bytes:,})"
        )
    if b"\x00" in data[:BINARY_PROBE_BYTES]:
        return repo.skip(rel, "binary", "NUL bytes; expected a text file")
    try:
        text, codec = decode(data, source.encoding)
    except Undecodable as error:
        return repo.skip(rel, "undecodable", str(error), data.decode("utf-8", "replace"))
    if is_blank(text):
        return repo.skip(rel, "empty")
    language = language_from_name(rel, options.extra_extensions) or language_from_shebang(
        text[:200].split("\n", 1)[0]
    )
    if language is None:
        return repo.skip(
            rel,
            "unknown_extension",
            "no language known for this file name, extension or shebang",
            text[:4096],
        )
    reason = content_reason(text, language)
    if reason:
        return repo.skip(rel, reason, text=text[:4096])
    location = repo.location(rel)
    meta: dict[str, Any] = {
        "location": location,
        "repository": repo.unit.rel_path,
        "repo_path": rel,
        "language": language,
        "bytes": len(data),
        "encoding": codec,
        **file_license(text, rel, repo.licenses),
    }
    if repo.commit:
        meta["commit"] = repo.commit
    return make_document(source.name, source.kind, location, text, path=location, meta=meta)


# -- folders and checkouts -----------------------------------------------------------------------


def _listing(unit: Unit) -> tuple[Callable[[], Iterator[Entry]], str | None]:
    options = unit.source.code
    vendored = frozenset(options.vendored_dirs)
    use_git = options.git == "always" or (options.git == "auto" and is_git_checkout(unit.path))
    if options.git == "always" and not is_git_checkout(unit.path):
        raise TreeError(f"{unit.path}: not a git checkout (no .git), and `code.git` is `always`")
    if use_git:
        return (lambda: walk_git(unit.path, options.follow_symlinks, vendored)), git_head(unit.path)
    return (lambda: walk_folder(unit.path, options.follow_symlinks, vendored)), None


def _read_entry(unit: Unit, entry: Entry) -> Read:
    def read(cap: int) -> bytes:
        with entry.path.open("rb") as handle:
            data = handle.read(cap + 1)
        unit.opened(entry.size)
        return data

    return read


def _tree(unit: Unit) -> Iterator[Record]:
    listing, commit = _listing(unit)
    licenses = LicenseIndex()
    for entry in listing():  # first pass: licence files, so every file knows its licence
        if entry.kind == "file" and is_license_file(entry.rel) and entry.size <= LICENSE_MAX_BYTES:
            licenses.add(entry.rel, entry.path.read_bytes().decode("utf-8", "replace"))
    repo = _Repo(unit, licenses, commit)
    for entry in listing():
        try:
            yield _file_record(repo, entry.rel, entry.kind, entry.size, _read_entry(unit, entry))
        except OSError as error:  # vanished or unreadable since listing
            yield repo.skip(entry.rel, "unreadable", error.strerror or str(error))


# -- archives --------------------------------------------------------------------------------------


def _archive_licenses(unit: Unit) -> LicenseIndex:
    """The licence files of the archive, as far as it can be read: damage further on is
    reported by the pass over the members, which still yields every member before it."""
    licenses = LicenseIndex()
    try:
        for member in iter_archive(unit.path, unit.source.limits, unit.rel_path):
            if member.kind == "file" and is_license_file(member.name):
                text = member.read(LICENSE_MAX_BYTES).decode("utf-8", "replace")
                licenses.add(member.name, text)
    except (ArchiveError, StreamDamage):
        pass
    return licenses


def _archive(unit: Unit) -> Iterator[Record]:
    unit.opened(unit.path.stat().st_size)
    bare = _Repo(unit, LicenseIndex(), None)
    repo = _Repo(unit, _archive_licenses(unit), None)
    members: Iterator[Member] = iter_archive(unit.path, unit.source.limits, unit.rel_path)
    while True:
        try:
            member = next(members, None)
        except (ArchiveError, StreamDamage) as error:
            yield bare.skip("", error.reason, str(error))
            return
        if member is None:
            return
        if member.kind == "dir":
            continue
        try:
            yield _file_record(repo, member.name, member.kind, member.size, member.read)
        except DecompressionBomb as bomb:
            # The archive's stream (tar) or its expansion budget (zip) is spent: stop here.
            yield repo.skip(member.name, bomb.reason, str(bomb))
            return
        except (ArchiveError, StreamDamage) as error:
            yield repo.skip(member.name, error.reason, str(error))


def iter_records(unit: Unit) -> Iterator[Record]:
    """Yield one record per file of the folder, checkout, archive or single file."""
    if unit.path.is_dir():
        yield from _tree(unit)
    elif is_archive_name(unit.path.name):
        yield from _archive(unit)
    else:
        info = unit.path.stat()
        entry = Entry(unit.path.name, unit.path, "file", info.st_size, info.st_mtime_ns)
        repo = _Repo(unit, LicenseIndex(), None, single=True)
        yield _file_record(repo, entry.rel, "file", entry.size, _read_entry(unit, entry))
