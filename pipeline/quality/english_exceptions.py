"""The special cases of English word splitting: contractions, abbreviations, emoticons.

A special case is a whole chunk of text that splits in a fixed way: ``don't`` is ``do`` + ``n't``,
``Mr.`` stays one word although a trailing full stop is normally split off, ``:)`` stays one
emoticon. These are the tokenizer exceptions of spaCy's English language data (which datatrove's
word counts go through), generated here from the same rules: pronoun and verb contractions with
and without their apostrophe, clock times, abbreviations, and the emoticons of spaCy's base
exceptions. Only the split matters here (spaCy's norms are not needed to count words).
"""

from __future__ import annotations

from functools import lru_cache

Split = tuple[str, ...]


def _cases(word: str) -> tuple[str, str]:
    return word, word.title()


def _pronoun_contractions(out: dict[str, Split]) -> None:
    for orth in _cases("i"):
        out[orth + "'m"] = (orth, "'m")
        out[orth + "m"] = (orth, "m")
        out[orth + "'ma"] = (orth, "'m", "a")
        out[orth + "ma"] = (orth, "m", "a")
    for pron in ("i", "you", "he", "she", "it", "we", "they"):
        for orth in _cases(pron):
            for will in (("'ll",), ("ll",), ("'ll", "'ve"), ("ll", "ve")):
                out[orth + "".join(will)] = (orth, *will)
            for would in (("'d",), ("d",), ("'d", "'ve"), ("d", "ve")):
                out[orth + "".join(would)] = (orth, *would)
    for pron, tails in (
        (("i", "you", "we", "they"), ("'ve", "ve")),
        (("you", "we", "they"), ("'re", "re")),
        (("he", "she", "it"), ("'s", "s")),
    ):
        for word in pron:
            for orth in _cases(word):
                for tail in tails:
                    out[orth + tail] = (orth, tail)


def _wh_word_contractions(out: dict[str, Split]) -> None:
    singular = {"that", "this"}
    plural = {"these", "those"}
    words = (
        "who",
        "what",
        "when",
        "where",
        "why",
        "how",
        "there",
        "that",
        "this",
        "these",
        "those",
    )
    for word in words:
        for orth in _cases(word):
            tails: list[Split] = [
                ("'ll",),
                ("ll",),
                ("'ll", "'ve"),
                ("ll", "ve"),
                ("'d",),
                ("d",),
                ("'d", "'ve"),
                ("d", "ve"),
            ]
            if word not in plural:
                tails += [("'s",), ("s",)]
            if word not in singular:
                tails += [("'re",), ("re",), ("'ve",), ("ve",)]
            for tail in tails:
                out[orth + "".join(tail)] = (orth, *tail)


def _verb_contractions(out: dict[str, Split]) -> None:
    modal = (
        "ca",
        "could",
        "do",
        "does",
        "did",
        "had",
        "may",
        "might",
        "must",
        "need",
        "ought",
        "sha",
        "should",
        "wo",
        "would",
    )
    for verb in modal:
        for orth in _cases(verb):
            for tail in (("n't",), ("nt",), ("n't", "'ve"), ("nt", "ve")):
                out[orth + "".join(tail)] = (orth, *tail)
    for verb in ("could", "might", "must", "should", "would"):
        for orth in _cases(verb):
            out[orth + "'ve"] = (orth, "'ve")
            out[orth + "ve"] = (orth, "ve")
    for verb in ("ai", "are", "is", "was", "were", "have", "has", "dare"):
        for orth in _cases(verb):
            out[orth + "n't"] = (orth, "n't")
            out[orth + "nt"] = (orth, "nt")


def _other_contractions(out: dict[str, Split]) -> None:
    for word in ("doin", "goin", "nothin", "nuthin", "ol", "somethin"):
        for orth in _cases(word):
            out[orth] = (orth,)
            out[orth + "'"] = (orth + "'",)
    for word in ("em", "ll", "nuff"):
        out[word] = (word,)
        out["'" + word] = ("'" + word,)
    for hour in range(1, 13):
        for period in ("a.m.", "am", "p.m.", "pm"):
            out[f"{hour}{period}"] = (str(hour), period)
    for lower in (
        "y'all",
        "yall",
        "how'd'y",
        "not've",
        "notve",
        "cannot",
        "gonna",
        "gotta",
        "let's",
        "c'mon",
    ):
        split = {
            "y'all": ("y'", "all"),
            "yall": ("y", "all"),
            "how'd'y": ("how", "'d", "'y"),
            "not've": ("not", "'ve"),
            "notve": ("not", "ve"),
            "cannot": ("can", "not"),
            "gonna": ("gon", "na"),
            "gotta": ("got", "ta"),
            "let's": ("let", "'s"),
            "c'mon": ("c'm", "on"),
        }[lower]
        out[lower] = split
        if lower not in ("y'all", "yall"):
            out[lower[0].upper() + lower[1:]] = (split[0][0].upper() + split[0][1:], *split[1:])


#: Words that stay whole although they contain or end in punctuation.
_WHOLE_WORDS_TEXT = (
    "'S 's \u2018S \u2018s and/or w/o 're 'Cause 'cause 'cos 'Cos 'coz 'Coz 'cuz 'Cuz 'bout "
    "ma'am Ma'am o'clock O'clock lovin' Lovin' lovin Lovin havin' Havin' havin Havin doin' "
    "Doin' doin Doin goin' Goin' goin Goin 'd "
    # abbreviations of months, US states and titles
    "Mt. Ak. Ala. Apr. Ariz. Ark. Aug. Calif. Colo. Conn. Dec. Del. Feb. Fla. Ga. Ia. Id. Ill. "
    "Ind. Jan. Jul. Jun. Kan. Kans. Ky. La. Mar. Mass. Mich. Minn. Miss. N.C. N.D. N.H. N.J. "
    "N.M. N.Y. Neb. Nebr. Nev. Nov. Oct. Okla. Ore. Pa. S.C. Sep. Sept. Tenn. Va. Wash. Wis. "
    "a.m. Adm. Bros. co. Co. Corp. D.C. Dr. e.g. E.g. E.G. Gen. Gov. i.e. I.e. I.E. Inc. Jr. "
    "Ltd. Md. Messrs. Mo. Mont. Mr. Mrs. Ms. p.m. Ph.D. Prof. Rep. Rev. Sen. St. vs. v.s."
)
_WHOLE_WORDS = _WHOLE_WORDS_TEXT.split()

#: Contractions that would swallow ordinary words ("ill" is not "i" + "ll").
_NOT_CONTRACTIONS = (
    "Ill",
    "ill",
    "Its",
    "its",
    "Hell",
    "hell",
    "Shell",
    "shell",
    "Shed",
    "shed",
    "were",
    "Were",
    "Well",
    "well",
    "Whore",
    "whore",
)

#: Language-independent whole tokens: whitespace names, a lone apostrophe, C++, single letters
#: with a full stop (initials), and emoticons.
_BASE_WHOLE = [
    "\t",
    "\\t",
    "\n",
    "\\n",
    "\u2014",
    "\u00a0",
    "'",
    '\\")',
    "<space>",
    "''",
    "C++",
] + [f"{c}." for c in "abcdefghijklmnopqrstuvwxyzäöü"]
_EMOTICONS_TEXT = (
    ":) :-) :)) :-)) :))) :-))) (: (-: =) (= :] :-] [: [-: [= =] :o) (o: :} :-} 8) 8-) (-8 ;) "
    ";-) (; (-; :( :-( :(( :-(( :((( :-((( ): )-: =( >:( :') :'-) :'( :'-( :/ :-/ =/ =| :| "
    ":-| ]= =[ :1 :P :-P :p :-p :O :-O :o :-o :0 :-0 :() >:o :* :-* :3 :-3 =3 :> :-> :X :-X "
    ":x :-x :D :-D ;D ;-D =D xD XD xDD XDD 8D 8-D ^_^ ^__^ ^___^ >.< >.> <.< ._. ;_; -_- -__- "
    "v.v V.V v_v V_V o_o o_O O_o O_O 0_o o_0 0_0 o.O O.o O.O o.o 0.0 o.0 0.o @_@ <3 <33 <333 "
    "</3 (^_^) (-_-) (._.) (>_<) (*_*) (¬_¬) ಠ_ಠ ಠ︵ಠ (ಠ_ಠ) ¯\\(ツ)/¯ (╯°□°）╯︵┻━┻ ><(((*>"
)
EMOTICONS = _EMOTICONS_TEXT.split()


@lru_cache(maxsize=1)
def special_cases() -> dict[str, Split]:
    """Every special case: the chunk and the words it splits into."""
    out: dict[str, Split] = {" ": (" ",)}
    for whole in (*_BASE_WHOLE, *EMOTICONS):
        out[whole] = (whole,)
    for unit in "cfkCFK":
        out[f"°{unit}."] = ("°", unit, ".")
    english: dict[str, Split] = {}
    _pronoun_contractions(english)
    _wh_word_contractions(english)
    _verb_contractions(english)
    _other_contractions(english)
    for whole in _WHOLE_WORDS:
        english[whole] = (whole,)
    for word in _NOT_CONTRACTIONS:
        english.pop(word, None)
    out.update(english)
    # Every case written with a straight apostrophe is also written with a typographic one.
    for chunk, split in list(out.items()):
        if "'" in chunk:
            out.setdefault(
                chunk.replace("'", "\u2019"), tuple(part.replace("'", "\u2019") for part in split)
            )
    return out
