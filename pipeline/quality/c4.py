"""C4's page rules (Raffel et al. 2020, "Exploring the Limits of Transfer Learning with a Unified
Text-to-Text Transformer", section 2.2, and the reference implementation in TensorFlow Datasets'
``c4_utils``), as datatrove's C4QualityFilter applies them.

Lines (``str.splitlines``, stripped) pass in turn: no "word" over ``max_word_length``
characters, citation markers removed, ends in terminal punctuation (not an ellipsis), at least
``min_words_per_line`` words; then a line with "lorem ipsum" marks the page, a line mentioning
javascript is left out, a line with a curly bracket marks the page, a cookie / terms-of-use line
is left out; the lines left count their sentences (spaCy's rule-based sentencizer, as datatrove
counts them). The page is removed for lorem ipsum, for a curly bracket, or for too few sentences.

Unlike C4 (and datatrove), this rule set never rewrites the text by deleting the lines it leaves
out: quality signals describe the document as it is kept, and every other rule measures the same
text. The lines left out are counted as signals instead.
"""

from __future__ import annotations

import re
from typing import Any, ClassVar

import pyarrow as pa

from pipeline.quality.config import C4Config
from pipeline.quality.rules import DocumentView, Rule, RuleSet
from pipeline.quality.words import count_sentences

_CITATION = re.compile(r"\[\d*]|\[edit]|\[citation needed]")
_TERMINAL = (".", "?", "!", '"', "'")
_POLICY = (
    "terms of use",
    "privacy policy",
    "cookie policy",
    "uses cookies",
    "use of cookies",
    "use cookies",
)


class C4(RuleSet):
    """Terminal punctuation, words per line, javascript / policy / lorem-ipsum / curly-bracket
    lines, minimum sentences."""

    name: ClassVar[str] = "c4"

    def __init__(self, config: C4Config) -> None:
        self.config = config

    def signals(self) -> dict[str, pa.DataType]:
        return {
            "c4_lines": pa.int64(),  # non-blank lines
            "c4_kept_lines": pa.int64(),  # lines that pass C4's line rules
            "c4_sentences": pa.int64(),  # sentences in the kept lines
            "c4_javascript_lines": pa.int64(),
            "c4_policy_lines": pa.int64(),
            "c4_lorem_ipsum": pa.bool_(),
            "c4_curly_bracket": pa.bool_(),
        }

    def measure(self, doc: DocumentView) -> dict[str, Any]:
        c = self.config
        lexicon = doc.lexicon
        lines = kept = sentences = javascript = policy = 0
        lorem = curly = False
        too_long = c.max_word_length
        for raw in doc.splitlines:
            line = raw.strip()
            if not line:
                continue
            lines += 1
            length = len(line)
            # The line rules only skip lines, so the cheap ones run first; the order of the
            # page-level marks (lorem ipsum, curly bracket) among them is C4's.
            words = None
            if c.remove_citations and "[" in line:
                words = line.split()
                line = _CITATION.sub("", line)
            if c.filter_no_terminal_punct and (
                not line.endswith(_TERMINAL) or line.endswith("...")
            ):
                continue
            if words is None:
                words = line.split()
            if c.min_words_per_line is not None and len(words) < c.min_words_per_line:
                continue
            if too_long is not None and length > too_long and any(len(w) > too_long for w in words):
                continue
            lower = line.lower()
            if "lorem ipsum" in lower:
                lorem = True
            if c.filter_javascript and "javascript" in lower:
                javascript += 1
                continue
            if "{" in line:
                curly = True
            if c.filter_policy and any(phrase in lower for phrase in _POLICY):
                policy += 1
                continue
            kept += 1
            sentences += count_sentences(lexicon, line)
        return {
            "c4_lines": lines,
            "c4_kept_lines": kept,
            "c4_sentences": sentences,
            "c4_javascript_lines": javascript,
            "c4_policy_lines": policy,
            "c4_lorem_ipsum": lorem,
            "c4_curly_bracket": curly,
        }

    def rules(self) -> list[Rule]:
        c = self.config
        return [
            Rule("c4_lorem_ipsum", "c4_lorem_ipsum", "flag", c.filter_lorem_ipsum),
            Rule("c4_curly_bracket", "c4_curly_bracket", "flag", c.filter_curly_bracket),
            Rule("c4_too_few_sentences", "c4_sentences", "min", c.min_num_sentences),
        ]
