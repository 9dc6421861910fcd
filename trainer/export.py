"""Export a trained model to a folder that `transformers` loads with its stock Auto classes.

`export_model(src, out)` reads a checkpoint (given as a run directory, a training output folder
or a checkpoint file), maps its weights onto the stock architecture closest to its family and
writes `model.safetensors`, `config.json` and the run's tokenizer (`tokenizer.json` with its
config and special tokens) into `out`:

    family            stock architecture              loads with             the options it needs
    encoder           BertForMaskedLM                 AutoModelForMaskedLM   BERT_OPTIONS
    decoder           GPT2LMHeadModel                 AutoModelForCausalLM   GPT2_OPTIONS
    encoder-decoder   BartForConditionalGeneration    AutoModelForSeq2SeqLM  BART_OPTIONS
    (post-norm)
    encoder-decoder   MBartForConditionalGeneration   AutoModelForSeq2SeqLM  MBART_OPTIONS
    (pre-norm)

(the options are trainer.presets'). With those options the exported model computes what ours
does (the same logits, to float rounding). A model trained with an option its stock architecture
lacks is refused, with a message naming the option and the preset that trains an exportable
model. Exporters are a table (`EXPORTERS`: family -> its candidate architectures, the first
whose requirements a model meets is used; a refusal names the nearest); the two-stream (XLNet)
family has none and is refused.

Weights map one to one, with a few reshapes: our fused `qkv` projection is split into
query/key/value (its rows are q, then k, then v), for cross-attention too; GPT-2's `Conv1D`
layers store the transpose of a `Linear` weight; BART's learned positions are read at
`position + 2` (its table has two leading rows no position reaches, written as zeros), and its
encoder and decoder have a position table and an embedding LayerNorm each where our two stacks
share one, so ours is written to both. Tied weights are written once (the word embedding); the
stock classes tie their output projection (and BART's two `embed_tokens`) to it on loading. An
encoder without segment embeddings or without an output bias gets BERT's as zeros, which adds
nothing; the same holds for BART's `final_logits_bias`.

An encoder-decoder's config also says which token starts the decoder
(`decoder_start_token_id`, what `generate` feeds first): the training objective's convention
(`TrainObjective.decoder_start`: `[PAD]` for span corruption as T5, `[EOS]` for denoising as
BART), read from the checkpoint's run config; a mix of objectives that start it differently
would have no one start token and is refused.

`transformers` is optional (the `hf` extra): `safetensors` writes the weights, and the tokenizer
is saved through `transformers.PreTrainedTokenizerFast` when it is installed, else written from
the run's files (pipeline.tokenizer.hf_files). Nothing here imports transformers at import time.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from pipeline.errors import UserFacingError
from trainer.checkpoint import load_checkpoint, periodic_checkpoints
from trainer.model import ModelConfig
from trainer.outputs import CHECKPOINT_NAME, PERIODIC_DIR

#: The weights file and model config `from_pretrained` reads.
WEIGHTS_NAME = "model.safetensors"
MODEL_CONFIG_NAME = "config.json"
TOKENIZER_FILE = "tokenizer.json"
#: Where a run directory keeps its training output and its tokenizer (pipeline.rundir).
RUN_TRAIN_DIR = "train"
RUN_TOKENIZER_DIR = "tokenizer"
#: `ModelConfig.gelu` -> the activation name both BERT's and GPT-2's configs take.
HF_ACTIVATIONS = {"exact": "gelu", "tanh": "gelu_new"}

State = dict[str, torch.Tensor]


class ExportError(UserFacingError):
    """The source cannot be exported; the message names the file and the reason."""


@dataclass(frozen=True)
class Exporter:
    """How one model family becomes a stock `transformers` architecture."""

    architecture: str  # the stock class written into config.json
    auto_class: str  # the Auto class that loads it
    preset: str  # a preset (trainer.presets) whose models export this way
    # ModelConfig fields and the values the stock architecture allows for them.
    requires: dict[str, tuple[Any, ...]]
    # (model config, the shards' special ids, the decoder start id or None) -> config.json
    config: Callable[[ModelConfig, dict[str, int], int | None], dict[str, Any]]
    weights: Callable[[ModelConfig, State], State]
    # The tensors the exported tokenizer returns (`model_input_names`); None: the tokenizer
    # writer's default (with `token_type_ids`). BART takes no segment ids: `generate(**batch)`
    # would refuse them.
    input_names: tuple[str, ...] | None = None


@dataclass
class ExportResult:
    """What `export_model` wrote."""

    out: Path
    checkpoint: Path
    tokenizer: Path
    architecture: str
    auto_class: str
    files: list[Path] = field(default_factory=list)


# --- weights ------------------------------------------------------------------------------------


def _split_qkv(weight: torch.Tensor, d_model: int) -> tuple[torch.Tensor, ...]:
    """Our fused projection's (3*d, ...) rows as query, key and value."""
    return tuple(part.contiguous() for part in weight.split(d_model, dim=0))


def _bert_weights(cfg: ModelConfig, state: State) -> State:
    d = cfg.d_model
    out: State = {
        "bert.embeddings.word_embeddings.weight": state["tok_emb.weight"],
        "bert.embeddings.position_embeddings.weight": state["pos_emb.weight"],
        "bert.embeddings.token_type_embeddings.weight": state.get(
            "type_emb.weight", torch.zeros(1, d)
        ),
        "bert.embeddings.LayerNorm.weight": state["emb_ln.weight"],
        "bert.embeddings.LayerNorm.bias": state["emb_ln.bias"],
        "cls.predictions.transform.dense.weight": state["head_transform.0.weight"],
        "cls.predictions.transform.dense.bias": state["head_transform.0.bias"],
        "cls.predictions.transform.LayerNorm.weight": state["head_transform.2.weight"],
        "cls.predictions.transform.LayerNorm.bias": state["head_transform.2.bias"],
        "cls.predictions.bias": state.get("head_bias", torch.zeros(cfg.vocab_size)),
    }
    for i in range(cfg.n_layers):
        ours, theirs = f"blocks.{i}.", f"bert.encoder.layer.{i}."
        weights = _split_qkv(state[ours + "attn.qkv.weight"], d)
        biases = _split_qkv(state[ours + "attn.qkv.bias"], d)
        for name, w, b in zip(("query", "key", "value"), weights, biases, strict=True):
            out[f"{theirs}attention.self.{name}.weight"] = w
            out[f"{theirs}attention.self.{name}.bias"] = b
        pairs = {
            "attn.out": "attention.output.dense",
            "ln1": "attention.output.LayerNorm",
            "mlp.0": "intermediate.dense",
            "mlp.2": "output.dense",
            "ln2": "output.LayerNorm",
        }
        for src, dst in pairs.items():
            out[f"{theirs}{dst}.weight"] = state[f"{ours}{src}.weight"]
            out[f"{theirs}{dst}.bias"] = state[f"{ours}{src}.bias"]
    if cfg.n_classes:  # BERT's pre-training heads: the pooler and the next-sentence classifier
        out["bert.pooler.dense.weight"] = state["pooler.weight"]
        out["bert.pooler.dense.bias"] = state["pooler.bias"]
        out["cls.seq_relationship.weight"] = state["classifier.weight"]
        out["cls.seq_relationship.bias"] = state["classifier.bias"]
    return out


def _bert_config(
    cfg: ModelConfig, special_ids: dict[str, int], decoder_start: int | None
) -> dict[str, Any]:
    return {
        "architectures": ["BertForPreTraining" if cfg.n_classes else "BertForMaskedLM"],
        "model_type": "bert",
        "vocab_size": cfg.vocab_size,
        "hidden_size": cfg.d_model,
        "num_hidden_layers": cfg.n_layers,
        "num_attention_heads": cfg.n_heads,
        "intermediate_size": cfg.d_ff,
        "hidden_act": HF_ACTIVATIONS[cfg.gelu],
        "hidden_dropout_prob": cfg.dropout,
        "attention_probs_dropout_prob": cfg.dropout,
        "max_position_embeddings": cfg.max_len,
        "type_vocab_size": max(1, cfg.type_vocab_size),
        "layer_norm_eps": cfg.norm_eps,
        "initializer_range": 0.02,
        "position_embedding_type": "absolute",
        "pad_token_id": cfg.pad_id,
        "tie_word_embeddings": True,
        "torch_dtype": "float32",
    }


def _gpt2_weights(cfg: ModelConfig, state: State) -> State:
    out: State = {
        "transformer.wte.weight": state["tok_emb.weight"],
        "transformer.wpe.weight": state["pos_emb.weight"],
        "transformer.ln_f.weight": state["ln_f.weight"],
        "transformer.ln_f.bias": state["ln_f.bias"],
    }
    for i in range(cfg.n_layers):
        ours, theirs = f"blocks.{i}.", f"transformer.h.{i}."
        for src, dst in (("ln1", "ln_1"), ("ln2", "ln_2")):
            out[f"{theirs}{dst}.weight"] = state[f"{ours}{src}.weight"]
            out[f"{theirs}{dst}.bias"] = state[f"{ours}{src}.bias"]
        pairs = {
            "attn.qkv": "attn.c_attn",
            "attn.out": "attn.c_proj",
            "mlp.0": "mlp.c_fc",
            "mlp.2": "mlp.c_proj",
        }
        for src, dst in pairs.items():  # Conv1D holds (in, out): the transposed Linear weight
            out[f"{theirs}{dst}.weight"] = state[f"{ours}{src}.weight"].t().contiguous()
            out[f"{theirs}{dst}.bias"] = state[f"{ours}{src}.bias"]
    return out


def _gpt2_config(
    cfg: ModelConfig, special_ids: dict[str, int], decoder_start: int | None
) -> dict[str, Any]:
    return {
        "architectures": ["GPT2LMHeadModel"],
        "model_type": "gpt2",
        "vocab_size": cfg.vocab_size,
        "n_positions": cfg.max_len,
        "n_embd": cfg.d_model,
        "n_layer": cfg.n_layers,
        "n_head": cfg.n_heads,
        "n_inner": cfg.d_ff,
        "activation_function": HF_ACTIVATIONS[cfg.gelu],
        "resid_pdrop": cfg.dropout,
        "embd_pdrop": cfg.dropout,
        "attn_pdrop": cfg.dropout,
        "layer_norm_epsilon": cfg.norm_eps,
        "initializer_range": 0.02,
        "scale_attn_weights": True,
        "scale_attn_by_inverse_layer_idx": False,
        "reorder_and_upcast_attn": False,
        "bos_token_id": special_ids.get("bos", cfg.pad_id),
        "eos_token_id": special_ids.get("eos", cfg.pad_id),
        "pad_token_id": cfg.pad_id,
        "tie_word_embeddings": True,
        "torch_dtype": "float32",
    }


#: BART's learned position table has two leading rows no position reaches (position p is row
#: p + 2), a layout kept from fairseq.
BART_POSITION_OFFSET = 2


def _attention_weights(prefix: str, state: State, ours: str, d_model: int) -> State:
    """One attention sublayer of ours (`ours`: its fused `qkv` and `out`) as BART's q/k/v/out
    projections under `prefix`."""
    out: State = {}
    weights = _split_qkv(state[f"{ours}.qkv.weight"], d_model)
    biases = _split_qkv(state[f"{ours}.qkv.bias"], d_model)
    for name, w, b in zip(("q_proj", "k_proj", "v_proj"), weights, biases, strict=True):
        out[f"{prefix}.{name}.weight"] = w
        out[f"{prefix}.{name}.bias"] = b
    out[f"{prefix}.out_proj.weight"] = state[f"{ours}.out.weight"]
    out[f"{prefix}.out_proj.bias"] = state[f"{ours}.out.bias"]
    return out


def _bart_weights(cfg: ModelConfig, state: State) -> State:
    """BART's and mBART's names (they differ only in mBART's final `layer_norm`s)."""
    d = cfg.d_model
    positions = torch.cat([torch.zeros(BART_POSITION_OFFSET, d), state["pos_emb.weight"]])
    out: State = {
        "model.shared.weight": state["tok_emb.weight"],
        "final_logits_bias": state.get("head_bias", torch.zeros(cfg.vocab_size))[None, :],
    }
    for stack in ("encoder", "decoder"):  # our one table and embedding LayerNorm, to both
        # Copies: safetensors refuses two names for one tensor's memory.
        out[f"model.{stack}.embed_positions.weight"] = positions.clone()
        out[f"model.{stack}.layernorm_embedding.weight"] = state["emb_ln.weight"].clone()
        out[f"model.{stack}.layernorm_embedding.bias"] = state["emb_ln.bias"].clone()
    if cfg.final_norm:  # mBART's final LayerNorm after each stack
        for stack, ours in (("encoder", "ln_f"), ("decoder", "ln_dec")):
            out[f"model.{stack}.layer_norm.weight"] = state[f"{ours}.weight"]
            out[f"model.{stack}.layer_norm.bias"] = state[f"{ours}.bias"]
    sublayers = {
        "ln1": "self_attn_layer_norm",
        "mlp.0": "fc1",
        "mlp.2": "fc2",
        "ln2": "final_layer_norm",
    }
    stacks = (("blocks", "encoder", cfg.n_layers), ("decoder", "decoder", cfg.n_decoder_layers))
    for ours_stack, stack, depth in stacks:
        for i in range(depth):
            ours, theirs = f"{ours_stack}.{i}", f"model.{stack}.layers.{i}"
            out.update(_attention_weights(f"{theirs}.self_attn", state, f"{ours}.attn", d))
            pairs = dict(sublayers)
            if stack == "decoder":
                out.update(_attention_weights(f"{theirs}.encoder_attn", state, f"{ours}.cross", d))
                pairs["ln_cross"] = "encoder_attn_layer_norm"
            for src, dst in pairs.items():
                out[f"{theirs}.{dst}.weight"] = state[f"{ours}.{src}.weight"]
                out[f"{theirs}.{dst}.bias"] = state[f"{ours}.{src}.bias"]
    return out


def _bart_config(
    cfg: ModelConfig, special_ids: dict[str, int], decoder_start: int | None
) -> dict[str, Any]:
    """BART's config (mBART's when pre-norm: the same fields). No embedding scale, no
    LayerDrop, no forced end token (generation stops at `[EOS]` as the model predicts it)."""
    eos = special_ids.get("eos", cfg.pad_id)
    return {
        "architectures": [
            "MBartForConditionalGeneration" if cfg.norm == "pre" else "BartForConditionalGeneration"
        ],
        "model_type": "mbart" if cfg.norm == "pre" else "bart",
        "vocab_size": cfg.vocab_size,
        "max_position_embeddings": cfg.max_len,
        "d_model": cfg.d_model,
        "encoder_layers": cfg.n_layers,
        "decoder_layers": cfg.n_decoder_layers,
        "encoder_attention_heads": cfg.n_heads,
        "decoder_attention_heads": cfg.n_heads,
        "encoder_ffn_dim": cfg.d_ff,
        "decoder_ffn_dim": cfg.d_ff,
        "activation_function": HF_ACTIVATIONS[cfg.gelu],
        "dropout": cfg.dropout,
        "attention_dropout": cfg.dropout,
        "activation_dropout": 0.0,
        "encoder_layerdrop": 0.0,
        "decoder_layerdrop": 0.0,
        "scale_embedding": False,
        "init_std": 0.02,
        "is_encoder_decoder": True,
        "pad_token_id": cfg.pad_id,
        "bos_token_id": special_ids.get("bos", eos),
        "eos_token_id": eos,
        "decoder_start_token_id": eos if decoder_start is None else decoder_start,
        "forced_eos_token_id": None,
        "tie_word_embeddings": True,
        "torch_dtype": "float32",
    }


#: What BART's and mBART's classes allow besides norm placement and the final LayerNorm:
#: LayerNorms of epsilon 1e-5 (torch's default; their config has no field for it), a LayerNorm
#: on the embeddings, no head transform, no segment embeddings, and none of the other heads.
_BART_REQUIRES: dict[str, tuple[Any, ...]] = {
    "embed_norm": (True,),
    "head_transform": (False,),
    "norm_eps": (1e-5,),
    "type_vocab_size": (0,),
    "generator_fraction": (0.0,),
    "n_classes": (0,),
    "two_stream": (False,),
}


#: Model family -> the stock architectures it can export as, tried in order (the first whose
#: `requires` a model meets is used). The two-stream family (XLNet-like) has none yet.
EXPORTERS: dict[str, tuple[Exporter, ...]] = {
    "encoder": (
        Exporter(
            architecture="BertForMaskedLM",
            auto_class="AutoModelForMaskedLM",
            preset="bert-base",
            requires={
                "norm": ("post",),
                "embed_norm": (True,),
                "final_norm": (False,),
                "head_transform": (True,),
                "generator_fraction": (0.0,),
                "n_classes": (0, 2),
            },
            config=_bert_config,
            weights=_bert_weights,
        ),
    ),
    "decoder": (
        Exporter(
            architecture="GPT2LMHeadModel",
            auto_class="AutoModelForCausalLM",
            preset="gpt2-small",
            requires={
                "norm": ("pre",),
                "embed_norm": (False,),
                "final_norm": (True,),
                "head_transform": (False,),
                "head_bias": (False,),
                "type_vocab_size": (0,),
                "generator_fraction": (0.0,),
                "n_classes": (0,),
            },
            config=_gpt2_config,
            weights=_gpt2_weights,
        ),
    ),
    "encoder-decoder": (
        Exporter(
            architecture="BartForConditionalGeneration",
            auto_class="AutoModelForSeq2SeqLM",
            preset="bart-base",
            requires={"norm": ("post",), "final_norm": (False,), **_BART_REQUIRES},
            config=_bart_config,
            weights=_bart_weights,
            input_names=("input_ids", "attention_mask"),
        ),
        Exporter(
            architecture="MBartForConditionalGeneration",
            auto_class="AutoModelForSeq2SeqLM",
            preset="bart-base, norm: pre, final_norm: true",
            requires={"norm": ("pre",), "final_norm": (True,), **_BART_REQUIRES},
            config=_bart_config,
            weights=_bart_weights,
            input_names=("input_ids", "attention_mask"),
        ),
    ),
}


def family_of(cfg: ModelConfig) -> str:
    """The model family a config belongs to (the key of `EXPORTERS`); an encoder trained with
    XLNet's two-stream attention is a family of its own ("two-stream"): its predictions come
    from the query stream, which BERT's architecture lacks."""
    if cfg.n_decoder_layers:
        return "encoder-decoder"
    if cfg.two_stream:
        return "two-stream"
    return "decoder" if cfg.causal else "encoder"


def _unmet(exporter: Exporter, cfg: ModelConfig) -> list[str]:
    """The options of `cfg` that `exporter`'s architecture does not allow, each as a phrase."""
    return [
        f"{name} {' or '.join(repr(v) for v in allowed)} (this model: {getattr(cfg, name)!r})"
        for name, allowed in exporter.requires.items()
        if getattr(cfg, name) not in allowed
    ]


def exporter_for(cfg: ModelConfig) -> Exporter | None:
    """The exporter a model of this config is written with, or None if it cannot be."""
    for exporter in EXPORTERS.get(family_of(cfg), ()):
        if not _unmet(exporter, cfg):
            return exporter
    return None


def refusal(cfg: ModelConfig) -> str | None:
    """Why a model of this config cannot be exported, or None if it can. The reason names the
    family's nearest architecture and what it needs."""
    family = family_of(cfg)
    candidates = EXPORTERS.get(family, ())
    if not candidates:
        return f"the {family} family has no export yet (exportable: {', '.join(EXPORTERS)})"
    if exporter_for(cfg) is not None:
        return None
    # The nearest: the fewest unmet options, then the one with the model's norm placement.
    nearest = min(
        candidates,
        key=lambda exporter: (
            len(_unmet(exporter, cfg)),
            cfg.norm not in exporter.requires.get("norm", (cfg.norm,)),
        ),
    )
    return (
        f"the {family} family exports as {nearest.architecture}, which needs "
        f"{'; '.join(_unmet(nearest, cfg))}; train with train.preset: {nearest.preset} (sizes "
        f"may be overridden) or set those train options"
    )


def decoder_start_id(payload: dict[str, Any], path: Path) -> int | None:
    """The id the decoder starts from under the checkpoint's training objectives (their
    `decoder_start` role in the shards' special ids); None for a model without a decoder. A mix
    of objectives whose decoders start from different tokens has no one start token and is
    refused."""
    if not payload["model_config"].get("n_decoder_layers"):
        return None
    from trainer.config import TrainConfig
    from trainer.objectives import OBJECTIVES

    try:
        names = list(TrainConfig.model_validate_json(payload["config"]).mix())
    except (KeyError, TypeError, ValueError):
        names = [str(payload["shards"].get("objective"))]
    roles: dict[str, str] = {
        name: role
        for name in names
        if name in OBJECTIVES and (role := OBJECTIVES[name].decoder_start) is not None
    }
    special_ids = payload["shards"].get("special_ids", {})
    starts = {role for role in roles.values() if role in special_ids}
    if len(starts) == 1:
        return int(special_ids[starts.pop()])
    if not starts:
        reason = f"its objectives {names} do not say which token starts the decoder"
    else:
        mixed = ", ".join(f"{name}: [{role.upper()}]" for name, role in sorted(roles.items()))
        reason = f"its objectives start the decoder from different tokens ({mixed})"
    raise ExportError(f"{path}: cannot export: {reason}; the exported config names one")


# --- sources ------------------------------------------------------------------------------------


def find_checkpoint(src: Path) -> Path:
    """The checkpoint `src` names: the file itself; a training output folder's checkpoint.pt
    (or its newest periodic checkpoint); or a run directory's `train/checkpoint.pt`."""
    if src.is_file():
        return src
    if not src.is_dir():
        raise ExportError(f"{src}: no such file or folder")
    for folder in (src, src / RUN_TRAIN_DIR):
        if (folder / CHECKPOINT_NAME).is_file():
            return folder / CHECKPOINT_NAME
        periodic = periodic_checkpoints(folder)
        if periodic:
            return periodic[-1][1]
    raise ExportError(
        f"{src}: no {CHECKPOINT_NAME} here or in {src / RUN_TRAIN_DIR}; give a run directory, "
        "a training output folder or a checkpoint file"
    )


def find_tokenizer(checkpoint: Path, tokenizer: Path | None = None) -> Path:
    """The tokenizer folder to export with `checkpoint`: `tokenizer` if given (a folder or its
    tokenizer.json), else the run's `tokenizer/` beside the training output folder."""
    if tokenizer is not None:
        folder = tokenizer.parent if tokenizer.name == TOKENIZER_FILE else tokenizer
        if not (folder / TOKENIZER_FILE).is_file():
            raise ExportError(f"{tokenizer}: no {TOKENIZER_FILE} there")
        return folder
    train_dir = checkpoint.parent
    if train_dir.name == PERIODIC_DIR:
        train_dir = train_dir.parent
    candidates = [train_dir / RUN_TOKENIZER_DIR, train_dir.parent / RUN_TOKENIZER_DIR]
    for folder in candidates:
        if (folder / TOKENIZER_FILE).is_file():
            return folder
    looked = ", ".join(str(c) for c in candidates)
    raise ExportError(
        f"{checkpoint}: no tokenizer found (looked in {looked}); pass --tokenizer DIR"
    )


def read_checkpoint(path: Path) -> dict[str, Any]:
    """The checkpoint's payload; a damaged or foreign file is one ExportError line."""
    try:
        return load_checkpoint(path)
    except Exception as error:  # torch raises many kinds for a damaged file
        first = (str(error).strip().splitlines() or [type(error).__name__])[0]
        raise ExportError(f"{path}: not a readable checkpoint ({first})") from None


# --- tokenizer ----------------------------------------------------------------------------------


def _check_tokenizer(folder: Path, cfg: ModelConfig, special_ids: dict[str, int]) -> None:
    """Refuse a tokenizer other than the one the model's shards were built with."""
    from tokenizers import Tokenizer

    path = folder / TOKENIZER_FILE
    try:
        tokenizer = Tokenizer.from_file(str(path))
    except Exception as error:
        raise ExportError(f"{path}: not a tokenizer ({error})") from None
    size = tokenizer.get_vocab_size()
    if size != cfg.vocab_size:
        raise ExportError(
            f"{path}: {size} tokens, but the model has {cfg.vocab_size}: "
            "not the tokenizer it was trained with"
        )
    from pipeline.tokenizer.config import SPECIAL_TOKENS

    for name, token_id in special_ids.items():
        if token_id < len(SPECIAL_TOKENS) and tokenizer.token_to_id(SPECIAL_TOKENS[token_id]) != (
            token_id
        ):
            raise ExportError(
                f"{path}: {SPECIAL_TOKENS[token_id]} ({name}) is not id {token_id} there, as "
                "in the model's shards: not the tokenizer it was trained with"
            )


def _write_tokenizer(
    folder: Path, out: Path, model_max_length: int, input_names: tuple[str, ...] | None
) -> list[Path]:
    """The tokenizer files in `out`: saved by transformers' PreTrainedTokenizerFast where it is
    installed, else tokenizer.json copied and the config files written by the pipeline's own
    writer. `input_names`, when given, are the tensors the tokenizer returns (its
    `model_input_names`), else the writer's default."""
    from pipeline.tokenizer.hf_files import special_tokens_map, write_hf_files

    try:
        from transformers import PreTrainedTokenizerFast
    except ImportError:
        shutil.copyfile(folder / TOKENIZER_FILE, out / TOKENIZER_FILE)
        lowercase = False
        config_path = folder / "tokenizer_config.json"
        if config_path.is_file():
            lowercase = bool(json.loads(config_path.read_text("utf-8")).get("do_lower_case"))
        files = write_hf_files(out, model_max_length, lowercase)
        if input_names is not None:
            written = out / "tokenizer_config.json"
            config = json.loads(written.read_text("utf-8"))
            config["model_input_names"] = list(input_names)
            written.write_text(json.dumps(config, indent=2, sort_keys=True) + "\n", "utf-8")
        return [out / TOKENIZER_FILE, *files]
    names = {} if input_names is None else {"model_input_names": list(input_names)}
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_file=str(folder / TOKENIZER_FILE),
        model_max_length=model_max_length,
        padding_side="right",
        truncation_side="right",
        clean_up_tokenization_spaces=False,
        **special_tokens_map(),
        **names,
    )
    return [Path(p) for p in tokenizer.save_pretrained(str(out)) if Path(p).is_file()]


# --- export -------------------------------------------------------------------------------------


def export_model(
    src: Path | str, out: Path | str, tokenizer: Path | str | None = None
) -> ExportResult:
    """Export the model `src` names into `out` (created if needed); see the module docstring."""
    try:
        from safetensors.torch import save_file
    except ImportError:
        raise ExportError(
            "exporting needs the safetensors package: pip install -e '.[hf]'"
        ) from None
    checkpoint = find_checkpoint(Path(src))
    payload = read_checkpoint(checkpoint)
    try:
        cfg = ModelConfig(**payload["model_config"])
    except (TypeError, ValueError) as error:
        raise ExportError(f"{checkpoint}: its model_config is not usable ({error})") from None
    why = refusal(cfg)
    if why is not None:
        raise ExportError(f"{checkpoint}: cannot export: {why}")
    exporter = exporter_for(cfg)
    assert exporter is not None  # refusal() said it exists
    start_id = decoder_start_id(payload, checkpoint)
    special_ids = {str(k): int(v) for k, v in payload["shards"].get("special_ids", {}).items()}
    tokenizer_dir = find_tokenizer(checkpoint, Path(tokenizer) if tokenizer else None)
    _check_tokenizer(tokenizer_dir, cfg, special_ids)

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().to("cpu", torch.float32) for k, v in payload["model"].items()}
    tensors = {k: v.contiguous() for k, v in exporter.weights(cfg, state).items()}
    weights_path = out / WEIGHTS_NAME
    save_file(dict(sorted(tensors.items())), str(weights_path), metadata={"format": "pt"})
    config_path = out / MODEL_CONFIG_NAME
    config = exporter.config(cfg, special_ids, start_id)
    config_path.write_text(json.dumps(config, indent=2, sort_keys=True) + "\n", "utf-8")
    written = _write_tokenizer(tokenizer_dir, out, cfg.max_len, exporter.input_names)
    files = [weights_path, config_path, *written]
    return ExportResult(
        out=out,
        checkpoint=checkpoint,
        tokenizer=tokenizer_dir,
        architecture=config["architectures"][0],
        auto_class=exporter.auto_class,
        files=files,
    )
