"""The trainer-side objectives: name -> `TrainObjective` (columns, model family, heads, loss).

The training loop and evaluation look objectives up here and name none themselves; adding one
is a module in this package and one line in `OBJECTIVES`.
"""

from __future__ import annotations

from trainer.objectives import clm, denoise, mlm, nsp, plm, rtd, span
from trainer.objectives.base import Batch, LossOutput, TrainObjective

OBJECTIVES: dict[str, TrainObjective] = {
    "mlm": mlm.OBJECTIVE,  # BERT's masked LM (also whole-word MLM shards)
    "clm": clm.OBJECTIVE,  # causal LM on packed rows
    "nsp": nsp.OBJECTIVE,  # NSP or SOP pairs + MLM on the pair (BERT, ALBERT)
    "rtd": rtd.OBJECTIVE,  # replaced-token detection on MLM shards (ELECTRA)
    "span": span.OBJECTIVE,  # T5 span corruption, encoder-decoder
    "denoise": denoise.OBJECTIVE,  # BART text infilling + sentence permutation, encoder-decoder
    "plm": plm.OBJECTIVE,  # XLNet permutation LM, two-stream attention masks
}


def get_objective(name: str) -> TrainObjective:
    """The objective called ``name``; a ValueError lists the known ones."""
    if name not in OBJECTIVES:
        raise ValueError(f"unknown training objective {name!r}; known: {sorted(OBJECTIVES)}")
    return OBJECTIVES[name]


__all__ = ["OBJECTIVES", "Batch", "LossOutput", "TrainObjective", "get_objective"]
