"""The table of data-side objectives: name -> `Objective` (config, columns, builder).

Adding an objective is a module in this package and one line here; the shards config, the
builder loop and the manifest take everything else from the entry.
"""

from __future__ import annotations

from pipeline.objectives import clm, denoise, mlm, nsp, plm, span
from pipeline.objectives.base import Objective

OBJECTIVES: dict[str, Objective] = {
    "mlm": mlm.OBJECTIVE,  # BERT's masked LM, optionally whole-word
    "clm": clm.OBJECTIVE,  # causal LM on packed rows
    "nsp": nsp.OBJECTIVE,  # BERT's sentence pairs (NSP), or ALBERT's SOP, with MLM on the pair
    "plm": plm.OBJECTIVE,  # XLNet's permutation LM: span targets + a factorisation order per row
    "span": span.OBJECTIVE,  # T5's span corruption, for an encoder-decoder
    "denoise": denoise.OBJECTIVE,  # BART's sentence permutation + text infilling, encoder-decoder
}


def get_objective(name: str) -> Objective:
    """The entry for ``name``; a ValueError lists the known names."""
    if name not in OBJECTIVES:
        raise ValueError(f"unknown objective {name!r}; known: {sorted(OBJECTIVES)}")
    return OBJECTIVES[name]
