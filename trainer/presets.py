"""Named model presets: `train.preset: NAME` fills in the `train:` fields of a published shape.

Each preset is the shape and architecture options of a model as its paper gives them; a field
the config sets itself wins over the preset's (see `TrainConfig`). Only model fields are set
(sizes, dropout, the architecture options of trainer.model.ModelConfig, learned positions),
never the optimisation settings, which depend on the batch and the corpus as much as the model.

`pending` holds parts of a shape that the trainer cannot express yet (they take effect once a
field for them exists in TrainConfig); they are recorded so the preset says the whole shape.
Encoder-decoder presets give `n_layers` only: the decoder is as deep as the encoder.

Plain Python, no torch: the run config is validated without loading torch.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

#: BERT's architecture options (Devlin et al. 2019; its released code): post-norm blocks, a
#: LayerNorm over the summed embeddings, no final LayerNorm, a dense-GELU-LayerNorm transform
#: before the tied output projection (with a bias), exact GELU, LayerNorm epsilon 1e-12, two
#: segment (token type) embeddings. What `gristmill export` writes as BertForMaskedLM.
BERT_OPTIONS: dict[str, Any] = {
    "norm": "post",
    "embed_norm": True,
    "final_norm": False,
    "head_transform": True,
    "head_bias": True,
    "gelu": "exact",
    "norm_eps": 1e-12,
    "type_vocab_size": 2,
}

#: GPT-2's (Radford et al. 2019; its released code): pre-norm blocks with a final LayerNorm,
#: the tanh approximation of GELU, an output projection tied to the embedding without a bias,
#: LayerNorm epsilon 1e-5. What `gristmill export` writes as GPT2LMHeadModel.
GPT2_OPTIONS: dict[str, Any] = {
    "norm": "pre",
    "embed_norm": False,
    "final_norm": True,
    "head_transform": False,
    "head_bias": False,
    "gelu": "tanh",
    "norm_eps": 1e-5,
    "type_vocab_size": 0,
}

#: BART's (Lewis et al. 2020; its released code): post-norm blocks in both stacks, a LayerNorm
#: over the summed embeddings, no final LayerNorm, no head transform, an output bias (the
#: `final_logits_bias`), exact GELU, LayerNorm epsilon 1e-5 (torch's default, which BART's
#: LayerNorms keep), no segment embeddings. What `gristmill export` writes an encoder-decoder
#: as BartForConditionalGeneration.
BART_OPTIONS: dict[str, Any] = {
    "norm": "post",
    "embed_norm": True,
    "final_norm": False,
    "head_transform": False,
    "head_bias": True,
    "gelu": "exact",
    "norm_eps": 1e-5,
    "type_vocab_size": 0,
}

#: mBART's (Liu et al. 2020): as BART's, but pre-norm with a final LayerNorm after each stack.
#: What `gristmill export` writes a pre-norm encoder-decoder as (MBartForConditionalGeneration).
MBART_OPTIONS: dict[str, Any] = {**BART_OPTIONS, "norm": "pre", "final_norm": True}


@dataclass(frozen=True)
class Preset:
    """A named shape: the TrainConfig fields it sets, where it comes from, what is pending."""

    name: str
    source: str  # the paper (and table) the shape is taken from
    fields: dict[str, Any]
    pending: dict[str, Any] = field(default_factory=dict)  # not expressible yet (see module doc)
    exports_as: str = ""  # the stock architecture `gristmill export` writes, if any


PRESETS: dict[str, Preset] = {
    preset.name: preset
    for preset in (
        # TrainConfig's own defaults: ~1 M parameters, seconds on a CPU; for tests and the demo.
        Preset("tiny", "this project's demo size (TrainConfig's defaults)", {}),
        Preset(
            "bert-base",
            "Devlin et al. 2019, BERT-base: L=12, H=768, A=12, 4H feed-forward, 512 positions",
            {
                "d_model": 768,
                "n_layers": 12,
                "n_heads": 12,
                "d_ff": 3072,
                "dropout": 0.1,
                "max_len": 512,
                **BERT_OPTIONS,
            },
            exports_as="BertForMaskedLM",
        ),
        Preset(
            "gpt2-small",
            "Radford et al. 2019, GPT-2 small (117M): 12 layers, d_model 768, 12 heads, "
            "context 1024",
            {
                "d_model": 768,
                "n_layers": 12,
                "n_heads": 12,
                "d_ff": 3072,
                "dropout": 0.1,
                "max_len": 1024,
                **GPT2_OPTIONS,
            },
            exports_as="GPT2LMHeadModel",
        ),
        Preset(
            "bart-base",
            "Lewis et al. 2020, BART-base: 6 encoder + 6 decoder layers, d_model 768, 12 heads, "
            "feed-forward 3072, 1024 positions",
            # The decoder is as deep as the encoder (n_layers), as in BART.
            {
                "d_model": 768,
                "n_layers": 6,
                "n_heads": 12,
                "d_ff": 3072,
                "dropout": 0.1,
                "max_len": 1024,
                **BART_OPTIONS,
            },
            exports_as="BartForConditionalGeneration",
        ),
        Preset(
            "t5-small",
            "Raffel et al. 2020, T5-small: d_model 512, 6 encoder + 6 decoder layers, 8 heads, "
            "d_ff 2048",
            # With `span` or `denoise` the decoder is as deep as the encoder (n_layers: 6), so
            # the 6 + 6 layers take effect. T5's normalisation is pre-norm with a final one and
            # epsilon 1e-6; it has no LayerNorm over the embeddings and no output bias.
            {
                "d_model": 512,
                "n_layers": 6,
                "n_heads": 8,
                "d_ff": 2048,
                "dropout": 0.1,
                "norm": "pre",
                "final_norm": True,
                "head_bias": False,
                "norm_eps": 1e-6,
            },
            # Not modelled: T5's relative position buckets (the model has learned absolute
            # positions instead), RMSNorm without bias or centring (LayerNorm instead), bias-free
            # linear layers, a ReLU feed-forward (GELU instead) and an output scaled by
            # d_model**-0.5. So a model of this preset is T5-shaped, not T5: it has no stock
            # equivalent and `gristmill export` refuses it (the nearest, mBART, would need
            # embed_norm and norm_eps 1e-5).
            pending={
                "position": "relative",
                "relative_buckets": 32,
                "relative_max_distance": 128,
                "norm_kind": "rms",
                "linear_bias": False,
                "activation": "relu",
            },
        ),
        Preset(
            "electra-small",
            "Clark et al. 2020, ELECTRA-Small: hidden 256, 12 layers, 4 heads, feed-forward "
            "1024, generator 1/4 of the discriminator",
            {
                "d_model": 256,
                "n_layers": 12,
                "n_heads": 4,
                "d_ff": 1024,
                "dropout": 0.1,
                "max_len": 512,
                "generator_fraction": 0.25,
                **BERT_OPTIONS,
            },
            # ELECTRA-Small factorises its embeddings (size 128, projected up to 256); the
            # trainer's embeddings are as wide as the model.
            pending={"embedding_size": 128},
        ),
    )
}


def get_preset(name: str) -> Preset:
    """The preset called `name`; a ValueError lists the known ones."""
    if name not in PRESETS:
        raise ValueError(f"unknown preset {name!r}; known: {', '.join(PRESETS)}")
    return PRESETS[name]


def apply_preset(fields: dict[str, Any]) -> dict[str, Any]:
    """`fields` (a `train:` section as given) with its preset's values added where the section
    sets no value of its own; unchanged when it names no preset."""
    name = fields.get("preset")
    if name is None:
        return fields
    preset = get_preset(name)
    return {**preset.fields, **fields}
