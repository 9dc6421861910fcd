"""Configuration of the quality stage (the run config's `quality:` section).

```yaml
quality:
  keep: filter                       # or `all`: measure and flag, drop nothing
  stop_at_first_failure: false       # true: stop measuring a document at its first failing rule
  suites:                            # which rule sets run on which kind of document, in order
    web: [gopher_repetition, gopher_quality, c4, fineweb]
    book: [books]
    code: [code]
  per_source:                        # optional, by source name
    my-forum: {suite: [gopher_quality], pii: false}
    my-docs: {suite: [gopher_repetition, gopher_quality], words: whitespace}
  pii: {emails: true, ips: true}
  gopher_quality: {min_doc_words: 50}  # every threshold of every rule set can be set here
  gopher_repetition: {words: whitespace}  # the Gopher paper's words (default: datatrove's)
  c4: {...}
  fineweb: {...}
  code: {...}
  books: {...}
  classifier: {model: quality.bin, threshold: 0.5, percentile: null, train: {...}}
```

Each default is the published threshold of the rule's source, named beside it (the book rules
have no published source: their thresholds are chosen in `books.py` and justified there and here);
`None` (YAML `null`) switches a rule off.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from pipeline.schema import Kind
from pipeline.stage import KeepMode

#: How the Gopher rules split text into words. ``datatrove``: spaCy-English words, as datatrove's
#: filters count them (every punctuation mark a word of its own), so decisions equal datatrove's;
#: the default, because the web suite's thresholds are used as FineWeb used them.
#: ``whitespace``: whitespace-separated words with their punctuation attached, as the Gopher paper
#: counts them (Rae et al. 2021, appendix A.1.1); its thresholds were set on those counts.
WordSplit = Literal["datatrove", "whitespace"]

RuleSetName = Literal[
    "gopher_quality", "gopher_repetition", "c4", "fineweb", "code", "books", "classifier"
]


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


class GopherQualityConfig(_Section):
    """Gopher's quality filter (Rae et al. 2021, "Scaling Language Models", appendix A.1.1)."""

    # datatrove's word split (decisions equal to datatrove's); `whitespace`: the paper's words.
    words: WordSplit = "datatrove"

    # Gopher: keep documents of 50 to 100,000 words.
    min_doc_words: int | None = 50
    max_doc_words: int | None = 100_000
    # Gopher: mean word length between 3 and 10 characters.
    min_avg_word_length: float | None = 3
    max_avg_word_length: float | None = 10
    # Gopher: at most 0.1 hash symbols per word, and at most 0.1 ellipses per word.
    max_symbol_word_ratio: float | None = 0.1
    # Gopher: at most 90% of lines starting with a bullet point...
    max_bullet_lines_ratio: float | None = 0.9
    # ...and at most 30% ending with an ellipsis.
    max_ellipsis_lines_ratio: float | None = 0.3
    # Gopher: at least 80% of words contain an alphabetic character.
    min_alpha_words_ratio: float | None = 0.8
    # Gopher: at least two of the eight stop words below.
    min_stop_words: int | None = 2
    stop_words: list[str] = Field(
        default_factory=lambda: ["the", "be", "to", "of", "and", "that", "have", "with"]
    )
    # The bullets a line may start with: the two datatrove checks (Gopher names no list).
    bullets: list[str] = Field(default_factory=lambda: ["•", "-"])


class GopherRepetitionConfig(_Section):
    """Gopher's repetition filter (Rae et al. 2021, table A1)."""

    # datatrove's word split (decisions equal to datatrove's); `whitespace`: the paper's words.
    words: WordSplit = "datatrove"

    # Table A1: fraction of lines / paragraphs that are duplicates: 0.30 each.
    dup_line_frac: float | None = 0.3
    dup_para_frac: float | None = 0.3
    # Table A1: fraction of characters in duplicate lines / paragraphs: 0.20 each.
    dup_line_char_frac: float | None = 0.2
    dup_para_char_frac: float | None = 0.2
    # Table A1: characters in the most frequent 2-, 3-, 4-gram: 0.20, 0.18, 0.16.
    top_n_grams: dict[int, float] = Field(default_factory=lambda: {2: 0.20, 3: 0.18, 4: 0.16})
    # Table A1: characters in duplicated 5- to 10-grams: 0.15 down to 0.10.
    dup_n_grams: dict[int, float] = Field(
        default_factory=lambda: {5: 0.15, 6: 0.14, 7: 0.13, 8: 0.12, 9: 0.11, 10: 0.10}
    )

    @field_validator("top_n_grams", "dup_n_grams")
    @classmethod
    def _positive_n(cls, value: dict[int, float]) -> dict[int, float]:
        if any(n < 1 for n in value):
            raise ValueError("n-gram sizes must be at least 1")
        return dict(sorted(value.items()))


class C4Config(_Section):
    """C4's heuristics (Raffel et al. 2020, section 2.2, and its reference implementation)."""

    # C4: lines must end in terminal punctuation (. ! ? " '), and not in an ellipsis.
    filter_no_terminal_punct: bool = True
    # C4: only lines of at least 3 words count (None: every line).
    min_words_per_line: int | None = 3
    # C4's code: a line with a "word" over 1000 characters is not text.
    max_word_length: int | None = 1000
    # C4: Wikipedia-style citation markers ([1], [edit], [citation needed]) are ignored.
    remove_citations: bool = True
    # C4: at least 5 sentences in the lines kept.
    min_num_sentences: int | None = 5
    # C4: any "lorem ipsum" removes the page; any curly bracket removes the page.
    filter_lorem_ipsum: bool = True
    filter_curly_bracket: bool = True
    # C4: lines mentioning javascript, and cookie/terms-of-use boilerplate lines, do not count.
    filter_javascript: bool = True
    filter_policy: bool = True


class FineWebConfig(_Section):
    """FineWeb's additional rules (Penedo et al. 2024, "The FineWeb Datasets", section 3.3)."""

    # FineWeb: at least 12% of lines end in terminal punctuation.
    line_punct_thr: float | None = 0.12
    # If set, a page where no line ends in punctuation is spared by the rule above.
    line_punct_exclude_zero: bool = False
    # FineWeb: at most 67% of lines of 30 characters or fewer.
    short_line_thr: float | None = 0.67
    short_line_length: int = 30
    # FineWeb: at most 1% of characters in duplicated lines.
    char_duplicates_ratio: float | None = 0.01
    # FineWeb: at most 0.3 newlines per word (lists).
    new_line_ratio: float | None = 0.3
    # The characters that count as terminal punctuation; None: Unicode's sentence terminals.
    stop_chars: list[str] | None = None


class CodeConfig(_Section):
    """Source-code rules of The Stack and StarCoder / StarCoder2 (Kocetkov et al. 2022,
    Li et al. 2023, Lozhkov et al. 2024)."""

    # The Stack / StarCoder: longest line at most 1000 characters, mean line at most 100.
    max_line_length: int | None = 1000
    max_mean_line_length: float | None = 100
    # The Stack: at least 25% alphanumeric characters.
    min_alnum_fraction: float | None = 0.25
    # StarCoder2: a file whose first 5 lines say it was generated (case-insensitive).
    filter_autogenerated: bool = True
    autogenerated_lines: int = 5
    autogenerated_markers: list[str] = Field(
        default_factory=lambda: [
            "auto-generated",
            "autogenerated",
            "automatically generated",
            "generated automatically",
            "this file is generated",
            "do not edit",
        ]
    )
    # StarCoder2: encoded data (base64 >= 64 chars, hex byte runs, \\u escapes): one run over
    # 1024 characters, or over half of the file, removes it.
    max_encoded_run: int | None = 1024
    max_encoded_fraction: float | None = 0.5
    # StarCoder: data files (JSON, YAML, ...) are kept only between 50 and 5000 characters...
    data_file_min_chars: int | None = 50
    data_file_max_chars: int | None = 5000
    data_languages: list[str] = Field(
        default_factory=lambda: ["json", "yaml", "csv", "tsv", "jsonl"]
    )
    # ...and XML files (an XML declaration in the first 100 characters) are removed.
    filter_xml: bool = True


class BooksConfig(_Section):
    """Rules for book-length text, chosen for gristmill (see pipeline/quality/books.py)."""

    # A book is long: under 5000 characters (about two pages) it is an article, not a book.
    min_chars: int | None = 5000
    # Non-prose lines (tables, indexes, page furniture: under half letters): at most 50%. The
    # sample Info manuals, the most tabular books measured, have 8-15%.
    max_non_prose_lines: float | None = 0.5
    # Decoding / OCR junk: replacement, control and private-use characters at most 1%. Info
    # manuals carry about 0.3% (their node and index markers are control characters).
    max_garbage_chars: float | None = 0.01
    # OCR that lost word boundaries ("t h e"): single-letter words at most 25%. Prose runs to
    # 10% in Portuguese ("a", "o", "e"); broken OCR is well over half.
    max_single_letter_words: float | None = 0.25
    # OCR digit/letter confusion ("l1ke", "t0day"): such words at most 5% (prose: under 1.5%).
    max_mixed_words: float | None = 0.05


class ClassifierTrainConfig(_Section):
    """How `gristmill quality-model train` trains the fastText classifier (Joulin et al. 2017,
    "Bag of Tricks for Efficient Text Classification"; as a quality filter: DCLM, Li et al. 2024).
    One thread and a fixed seed, always: the same documents give the same model."""

    # DCLM's fastText quality classifier uses word bigrams.
    word_ngrams: int = 2
    # Vectors of 64: the classes here are two, and a small model loads and scores fast
    # (fastText's default is 100).
    dim: int = 64
    # 25 epochs, from fastText's text-classification tutorial (its default, 5 epochs at learning
    # rate 0.1, leaves a model of a few hundred documents at p = 0.5 for all); learning rate
    # 0.5, not the tutorial's 1.0, which diverged (NaN) on a few dozen long documents.
    epoch: int = 25
    lr: float = 0.5
    # Every word kept (fastText's supervised default).
    min_count: int = 1
    # Hash buckets for the bigrams: 200,000 (fastText's 2,000,000 makes a model of 0.5 GB at
    # dim 64; the training sets here have a few hundred thousand distinct bigrams).
    bucket: int = 200_000
    seed: int = 1
    # 10% of the documents (chosen by a hash of their id) are held out to measure accuracy.
    holdout_fraction: float = Field(default=0.1, ge=0.0, lt=1.0)


class ClassifierConfig(_Section):
    """A trained fastText quality classifier (the `classifier` rule set): every document gets
    ``quality_score``, the model's probability of the positive label; low scores are dropped."""

    # The model `gristmill quality-model train` wrote (relative to the run config's folder).
    model: str | None = None
    # Drop below probability 0.5: the two-class decision the model was trained for.
    threshold: float | None = Field(default=0.5, ge=0.0, le=1.0)
    # Also drop the lowest `percentile` percent of the whole run's scored documents (FineWeb-Edu
    # and DCLM keep a top fraction of their corpus); None: off, as the two-class threshold is the
    # model's own decision. Cut over every partition at once after scoring (ties at the cut kept):
    # see pipeline/steps/run_cut.py.
    percentile: float | None = Field(default=None, ge=0.0, le=100.0)
    train: ClassifierTrainConfig = ClassifierTrainConfig()


class PIIConfig(_Section):
    """E-mail and public IP addresses replaced by placeholders (as datatrove, dolma and NeMo
    Curator do), before any rule measures the text."""

    enabled: bool = True
    emails: bool = True
    ips: bool = True
    # Reserved for documentation (RFC 2606 and RFC 5737), so they never point at anyone.
    email_placeholder: str = "email@example.com"
    ip_placeholder: str = "192.0.2.1"


class SourceQualityConfig(_Section):
    """Per-source overrides."""

    suite: list[RuleSetName] | None = None  # instead of the suite of the source's kind
    pii: bool | None = None  # instead of `pii.enabled`
    words: WordSplit | None = None  # instead of the Gopher rule sets' `words`


def _default_suites() -> dict[Kind, list[RuleSetName]]:
    # Web: FineWeb's order (repetition, quality, C4, FineWeb), so reasons read as in FineWeb.
    return {
        "web": ["gopher_repetition", "gopher_quality", "c4", "fineweb"],
        "book": ["books"],
        "code": ["code"],
    }


class QualityConfig(_Section):
    """Which rule sets run on which documents, and every threshold."""

    keep: KeepMode = "filter"
    # Off: every signal of every rule set in a document's suite is measured, so the columns are
    # complete (for the card, `stats` and `refilter`). On: a document is measured only up to the
    # first rule set it fails (and the repetition rules stop before their n-grams when a
    # paragraph or line rule fails): the same `reason`, faster, but the later signals are null
    # and `reasons` lists only the failures found before the stop.
    stop_at_first_failure: bool = False
    suites: dict[Kind, list[RuleSetName]] = Field(default_factory=_default_suites)
    per_source: dict[str, SourceQualityConfig] = Field(default_factory=dict)
    pii: PIIConfig = PIIConfig()
    gopher_quality: GopherQualityConfig = GopherQualityConfig()
    gopher_repetition: GopherRepetitionConfig = GopherRepetitionConfig()
    c4: C4Config = C4Config()
    fineweb: FineWebConfig = FineWebConfig()
    code: CodeConfig = CodeConfig()
    books: BooksConfig = BooksConfig()
    classifier: ClassifierConfig = ClassifierConfig()

    @field_validator("suites")
    @classmethod
    def _fill_suites(cls, value: dict[Kind, list[RuleSetName]]) -> dict[Kind, list[RuleSetName]]:
        # Naming one kind's suite leaves the others at their defaults (`book: []` empties one).
        return {**_default_suites(), **value}

    def suite_for(self, kind: str, source: str) -> list[RuleSetName]:
        override = self.per_source.get(source)
        if override is not None and override.suite is not None:
            return override.suite
        return self.suites.get(kind, [])  # type: ignore[call-overload]

    def words_for(self, source: str) -> WordSplit | None:
        """The word split a source's override names for the Gopher rules (None: theirs)."""
        override = self.per_source.get(source)
        return override.words if override is not None else None

    def pii_for(self, source: str) -> bool:
        override = self.per_source.get(source)
        if override is not None and override.pii is not None:
            return override.pii
        return self.pii.enabled
