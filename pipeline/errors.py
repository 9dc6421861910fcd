"""The base of every error that is the user's to fix: a bad config, an unreadable or malformed
input, an incompatible earlier run, a run directory in use.

Such an error's message names the file (and, where it helps, the record or setting) and the
reason, in one line or a short list; the command line prints it without a traceback and exits
with status 2. Anything else that goes wrong is either an environmental fault (a full disk, a
read-only folder: an ``OSError``) or a defect of gristmill itself.
"""

from __future__ import annotations


class UserFacingError(Exception):
    """A problem with what the user gave gristmill; the message says what and where."""
