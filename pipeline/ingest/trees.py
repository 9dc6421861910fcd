"""Listing the files of a folder or a git checkout, safely and in a stable order.

Used by the ``code`` and ``html`` readers when a source path is a folder. Every file found is
an :class:`Entry` with a ``kind`` that says whether it can be read (``file``) or why not
(``symlink``, ``symlink_loop``, ``symlink_escape``, ``special``, ``vendored``, ``submodule``,
``missing``), so the reader can account for it. Entries come sorted by path, folder by folder,
so the same tree always lists the same way.

- Version-control folders (``.git``, ``.hg``, ``.svn``) are not part of the tree's content and
  are not listed.
- Symlinks are listed as ``symlink`` and not followed, unless ``follow_symlinks``: then a link
  whose target lies outside the tree is ``symlink_escape``, and a link that loops (to itself,
  or to a folder already on the way down) is ``symlink_loop`` -- a walk always ends.
- A git checkout lists what ``git ls-files`` lists: tracked files only.
"""

from __future__ import annotations

import errno
import hashlib
import os
import stat
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from pipeline.errors import UserFacingError

VCS_DIRS = frozenset({".git", ".hg", ".svn"})


@dataclass(frozen=True)
class Entry:
    """One file (or would-be file) of a tree."""

    rel: str  # POSIX path relative to the tree's root
    path: Path
    kind: str  # file | symlink | symlink_loop | symlink_escape | special | vendored | ...
    size: int = 0
    mtime_ns: int = 0


class TreeError(UserFacingError, ValueError):
    """A tree cannot be listed (not a folder, git missing, not a checkout)."""


def is_git_checkout(root: Path) -> bool:
    return (root / ".git").exists()


def _inside(path: str, root: str) -> bool:
    return path == root or path.startswith(root.rstrip(os.sep) + os.sep)


def _vendored(rel: str, vendored: frozenset[str]) -> bool:
    return any(part in vendored for part in rel.split("/")[:-1])


def _follow_link(rel: str, path: Path, root_real: str) -> os.stat_result | Entry:
    """The stat of what the symlink at ``path`` points to, or the Entry saying why it cannot be
    followed (a link cycle, a broken link, a target outside the tree)."""
    try:
        info = os.stat(path)  # follows the link; ELOOP for a link cycle
    except OSError as error:
        kind = "symlink_loop" if error.errno == errno.ELOOP else "symlink_broken"
        return Entry(rel, path, kind)
    if not _inside(os.path.realpath(path), root_real):
        return Entry(rel, path, "symlink_escape")
    return info


def _link(
    rel: str, path: Path, root_real: str, follow: bool, unfollowed: str
) -> Entry | os.stat_result:
    """A symlink's target's stat when links are followed and it can be; otherwise its entry
    (``unfollowed`` when links are not followed)."""
    if not follow:
        return Entry(rel, path, unfollowed)
    return _follow_link(rel, path, root_real)


def walk_folder(
    root: Path, follow_symlinks: bool = False, vendored: frozenset[str] = frozenset()
) -> Iterator[Entry]:
    """Every file under ``root`` (sorted, depth first), with what kind of entry it is."""
    root_real = os.path.realpath(root)

    def visit(folder: Path, prefix: str, ancestors: frozenset[tuple[int, int]]) -> Iterator[Entry]:
        try:
            children = sorted(os.scandir(folder), key=lambda e: e.name)
        except OSError:
            yield Entry(prefix.rstrip("/") or ".", folder, "unreadable")
            return
        for child in children:
            rel = prefix + child.name
            path = Path(child.path)
            if child.is_dir(follow_symlinks=False) and child.name in VCS_DIRS:
                continue
            if child.is_symlink():
                unfollowed = "vendored" if _vendored(rel, vendored) else "symlink"
                followed = _link(rel, path, root_real, follow_symlinks, unfollowed)
                if isinstance(followed, Entry):
                    yield followed
                    continue
                info = followed
            else:
                try:
                    info = child.stat(follow_symlinks=False)
                except OSError:
                    yield Entry(rel, path, "unreadable")
                    continue
            if stat.S_ISDIR(info.st_mode):
                key = (info.st_dev, info.st_ino)
                if key in ancestors:
                    yield Entry(rel, path, "symlink_loop")
                    continue
                yield from visit(path, rel + "/", ancestors | {key})
            elif stat.S_ISREG(info.st_mode):
                kind = "vendored" if _vendored(rel, vendored) else "file"
                yield Entry(rel, path, kind, info.st_size, info.st_mtime_ns)
            else:
                yield Entry(rel, path, "special")

    top = os.stat(root)
    yield from visit(Path(root), "", frozenset({(top.st_dev, top.st_ino)}))


def _git(root: Path, *args: str) -> bytes:
    try:
        done = subprocess.run(["git", "-C", str(root), *args], capture_output=True, check=False)
    except FileNotFoundError:
        raise TreeError(
            f"{root}: is a git checkout but the `git` command is not installed; "
            "install git or set `code: {{git: never}}`"
        ) from None
    if done.returncode != 0:
        message = done.stderr.decode("utf-8", "replace").strip()
        raise TreeError(f"{root}: `git {' '.join(args)}` failed: {message}")
    return done.stdout


def git_head(root: Path) -> str | None:
    """The checked-out commit, or None for a repository without commits."""
    try:
        return _git(root, "rev-parse", "--verify", "-q", "HEAD").decode().strip() or None
    except TreeError:
        return None


def walk_git(
    root: Path, follow_symlinks: bool = False, vendored: frozenset[str] = frozenset()
) -> Iterator[Entry]:
    """The tracked files of the checkout at ``root`` (``git ls-files``), read from the working
    tree."""
    listed = _git(root, "-c", "core.quotepath=off", "ls-files", "-z", "--cached")
    root_real = os.path.realpath(root)
    for raw in sorted(p for p in listed.split(b"\0") if p):
        rel = os.fsdecode(raw)
        path = root / rel
        if _vendored(rel, vendored):
            yield Entry(rel, path, "vendored")
            continue
        try:
            info = os.lstat(path)
        except FileNotFoundError:
            yield Entry(rel, path, "missing")
            continue
        if stat.S_ISLNK(info.st_mode):
            followed = _link(rel, path, root_real, follow_symlinks, "symlink")
            if isinstance(followed, Entry):
                yield followed
                continue
            info = followed
        if stat.S_ISDIR(info.st_mode):
            yield Entry(rel, path, "submodule")
        elif stat.S_ISREG(info.st_mode):
            yield Entry(rel, path, "file", info.st_size, info.st_mtime_ns)
        else:
            yield Entry(rel, path, "special")


def listing_fingerprint(entries: Iterator[Entry], extra: str = "") -> str:
    """A hash of a listing (paths, kinds, sizes, mtimes): changes when any file does."""
    digest = hashlib.sha256(extra.encode())
    for entry in entries:
        digest.update(f"{entry.rel}\0{entry.kind}\0{entry.size}\0{entry.mtime_ns}\n".encode())
    return digest.hexdigest()[:24]
