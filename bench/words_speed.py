"""The word split's cold and warm passes over the web-like corpus, against an earlier revision.

The corpus is ``quality_profile.py``'s (sample WARC pages, book pages, licence texts). A cold
pass is a fresh :class:`~pipeline.quality.words.Lexicon` splitting every document
(``lex.ids(text)``, then ``lex.arrays()`` as the rules read them after each document); a warm
pass repeats it on the filled lexicon. With ``--against REV`` the ``words.py`` of that git
revision runs too, interleaved with this checkout's (the order alternates per round), and both
must give the same ids for every document and the same attribute arrays. Prints CPU seconds per
pass (the best of the rounds; the machine is shared) and the ratios.

    PYTHONPATH=. python bench/words_speed.py [--against 635bf76] [--rounds 4]
"""

from __future__ import annotations

import argparse
import importlib.util
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from types import ModuleType

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from quality_corpus import DEFAULT_DATA  # noqa: E402
from quality_profile import corpus  # noqa: E402

import pipeline.quality.words as current  # noqa: E402


def words_at(revision: str, folder: Path) -> ModuleType:
    """``pipeline/quality/words.py`` as it was at ``revision``, imported on its own."""
    source = subprocess.run(
        ["git", "show", f"{revision}:pipeline/quality/words.py"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    path = folder / f"words_{revision}.py"
    path.write_text(source, encoding="utf-8")
    spec = importlib.util.spec_from_file_location(path.stem, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def passes(module: ModuleType, docs: list[str]) -> tuple[float, float]:
    """CPU seconds of a cold and a warm pass."""
    lexicon = module.Lexicon()
    started = time.process_time()
    for text in docs:
        lexicon.ids(text)
        lexicon.arrays()
    cold = time.process_time() - started
    started = time.process_time()
    for text in docs:
        lexicon.ids(text)
    return cold, time.process_time() - started


def same_results(a: ModuleType, b: ModuleType, docs: list[str]) -> bool:
    first, second = a.Lexicon(), b.Lexicon()
    for text in docs:
        if not np.array_equal(first.ids(text), second.ids(text)):
            return False
    one, other = first.arrays(), second.arrays()
    return one.keys() == other.keys() and all(np.array_equal(one[k], other[k]) for k in one)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--against", help="a git revision whose words.py runs too")
    parser.add_argument("--rounds", type=int, default=4)
    args = parser.parse_args()
    docs = [text for _, text in corpus(args.data)]
    megabytes = sum(len(t.encode()) for t in docs) / 1e6
    print(f"{len(docs)} documents, {megabytes:.1f} MB")
    with tempfile.TemporaryDirectory() as folder:
        versions = {"this checkout": current}
        if args.against:
            versions = {args.against: words_at(args.against, Path(folder)), **versions}
            print("same ids and arrays:", same_results(*versions.values(), docs))
        seconds: dict[str, list[tuple[float, float]]] = {name: [] for name in versions}
        for round_ in range(args.rounds):
            order = list(versions) if round_ % 2 == 0 else list(reversed(versions))
            for name in order:
                seconds[name].append(passes(versions[name], docs))
                cold, warm = seconds[name][-1]
                print(f"round {round_ + 1}, {name}: cold {cold:.2f} s, warm {warm:.2f} s")
    best = {name: tuple(min(s[i] for s in runs) for i in (0, 1)) for name, runs in seconds.items()}
    for name, (cold, warm) in best.items():
        print(f"best of {args.rounds}, {name}: cold {cold:.2f} s, warm {warm:.2f} s")
    if args.against:
        (old_cold, old_warm), (new_cold, new_warm) = best.values()
        print(f"ratio: cold {old_cold / new_cold:.2f}x, warm {old_warm / new_warm:.2f}x")


if __name__ == "__main__":
    main()
