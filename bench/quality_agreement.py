"""Keep/drop agreement of gristmill's web rule sets with datatrove's filters, per filter.

datatrove 0.10.1's GopherQualityFilter, GopherRepetitionFilter, C4QualityFilter and
FineWebQualityFilter (default settings) and gristmill's ``gopher_quality``,
``gopher_repetition``, ``c4`` and ``fineweb`` rule sets (default settings) each judge every
document of the corpus (see ``bench/quality_corpus.py``) on its own -- each datatrove filter gets
a fresh copy of the document, as C4 rewrites the text it keeps. Reported per filter and per
group: documents, datatrove's drops, agreement, and every disagreement with both sides' reasons
and our signal values. Also: how often our spaCy-compatible word splitter gives exactly
datatrove's word list (``split_into_words``), and each side's time per filter.

Run with the benchmark environment (datatrove and spaCy are not gristmill dependencies)::

    ../benchenv/bin/python bench/quality_agreement.py [--data ../shared/data]
        [--groups web,books,langid,code] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path
from typing import Any

from quality_corpus import DEFAULT_DATA, GROUPS

from pipeline.quality.config import QualityConfig
from pipeline.quality.rules import DocumentView
from pipeline.quality.stage import build_rule_sets
from pipeline.quality.words import lexicon

PAIRS = ("gopher_quality", "gopher_repetition", "c4", "fineweb")


def datatrove_filters() -> dict[str, Any]:
    from datatrove.pipeline.filters import (
        C4QualityFilter,
        FineWebQualityFilter,
        GopherQualityFilter,
        GopherRepetitionFilter,
    )

    return {
        "gopher_quality": GopherQualityFilter(),
        "gopher_repetition": GopherRepetitionFilter(),
        "c4": C4QualityFilter(),
        "fineweb": FineWebQualityFilter(),
    }


def datatrove_decisions(name: str, flt: Any, docs: list[tuple[str, str]]) -> tuple[list, float]:
    from datatrove.data import Document

    started = time.perf_counter()
    out = []
    for doc_id, text in docs:
        result = flt.filter(Document(text=text, id=doc_id))
        keep, reason = result if isinstance(result, tuple) else (result, None)
        out.append((bool(keep), reason))
    return out, time.perf_counter() - started


def our_decisions(name: str, docs: list[tuple[str, str]]) -> tuple[list, float]:
    rule_set = build_rule_sets(QualityConfig())[name]
    words = lexicon()
    started = time.perf_counter()
    out = []
    for _, text in docs:
        signals = rule_set.measure(DocumentView(text, words)) if text.strip() else {}
        failures = rule_set.failures(signals) if text.strip() else ["empty"]
        out.append((not failures, failures[0] if failures else None, signals))
    return out, time.perf_counter() - started


def word_split_agreement(docs: list[tuple[str, str]]) -> tuple[int, float, float]:
    from datatrove.utils.text import split_into_words as theirs

    words = lexicon()
    same = 0
    ours_seconds = theirs_seconds = 0.0
    for _, text in docs:
        started = time.perf_counter()
        a = theirs(text)
        theirs_seconds += time.perf_counter() - started
        started = time.perf_counter()
        b = words.split_words(text)
        ours_seconds += time.perf_counter() - started
        same += a == b
    return same, theirs_seconds, ours_seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--groups", default=",".join(GROUPS))
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args()
    filters = datatrove_filters()
    report: dict[str, Any] = {
        "machine": f"{platform.node()} ({platform.machine()})",
        "groups": {},
        "disagreements": [],
    }
    totals = {name: [0, 0] for name in PAIRS}
    for group in args.groups.split(","):
        docs = GROUPS[group](args.data)
        chars = sum(len(t) for _, t in docs)
        same, t_theirs, t_ours = word_split_agreement(docs)
        entry: dict[str, Any] = {
            "documents": len(docs),
            "characters": chars,
            "word_lists_identical": same,
            "split_seconds": {"datatrove": t_theirs, "ours": t_ours},
        }
        print(
            f"\n{group}: {len(docs)} documents, {chars:,} characters; word lists identical "
            f"to datatrove's: {same}/{len(docs)} (split {t_theirs:.1f}s vs {t_ours:.1f}s)"
        )
        for name in PAIRS:
            theirs, dt_seconds = datatrove_decisions(name, filters[name], docs)
            ours, our_seconds = our_decisions(name, docs)
            agree = sum(t[0] == o[0] for t, o in zip(theirs, ours, strict=True))
            dropped = sum(not t[0] for t in theirs)
            totals[name][0] += agree
            totals[name][1] += len(docs)
            entry[name] = {
                "agree": agree,
                "datatrove_dropped": dropped,
                "ours_dropped": sum(not o[0] for o in ours),
                "seconds": {"datatrove": dt_seconds, "ours": our_seconds},
            }
            print(
                f"  {name:18} agree {agree}/{len(docs)} ({agree / len(docs):.2%}); datatrove "
                f"drops {dropped}, ours {entry[name]['ours_dropped']}; "
                f"{dt_seconds:.1f}s vs {our_seconds:.1f}s"
            )
            for (doc_id, _), t, o in zip(docs, theirs, ours, strict=True):
                if t[0] != o[0]:
                    item = {
                        "group": group,
                        "filter": name,
                        "id": doc_id,
                        "datatrove": t[1] or "keep",
                        "ours": o[1] or "keep",
                        "signals": {k: v for k, v in o[2].items()},
                    }
                    report["disagreements"].append(item)
                    print(
                        f"    disagree {doc_id}: datatrove {item['datatrove']}, ours "
                        f"{item['ours']} {item['signals']}"
                    )
        report["groups"][group] = entry
    print("\n| filter | agree | documents | rate |\n|---|---:|---:|---:|")
    for name, (agree, n) in totals.items():
        print(f"| {name} | {agree} | {n} | {agree / n:.2%} |")
    report["totals"] = {name: {"agree": a, "documents": n} for name, (a, n) in totals.items()}
    if args.json:
        args.json.write_text(json.dumps(report, indent=2, default=str))


if __name__ == "__main__":
    main()
