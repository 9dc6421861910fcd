"""Presets resolve and explicit fields win; `gristmill export` writes folders that transformers'
stock Auto classes load, with logits equal to ours and the run's tokenizer with its special
tokens; models with options no stock architecture has are refused by name.

The export tests build a small run directory by hand (the pipeline's tokenizer and shard code on
a fixture corpus, span and denoise shards included, then a few training steps of each model)
and skip where transformers is not installed.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from pipeline.objectives.clm import CLMConfig
from pipeline.objectives.mlm import MLMConfig
from pipeline.objectives.registry import OBJECTIVES as BUILDERS
from pipeline.shards import ShardsConfig
from pipeline.shards.build import build_shards
from pipeline.shards.format import EOS_ID, PAD_ID
from pipeline.tokenizer import train_tokenizer
from pipeline.tokenizer.config import SPECIAL_IDS
from pipeline.tokenizer.hf_files import write_hf_files
from tests.seq2seq_fixtures import write_seq2seq_shards
from tests.test_tokenizer_and_shards import TOKENIZER, write_corpus
from trainer.checkpoint import load_checkpoint
from trainer.config import TrainConfig
from trainer.model import ModelConfig, TransformerLM
from trainer.presets import BART_OPTIONS, BERT_OPTIONS, GPT2_OPTIONS, MBART_OPTIONS, PRESETS

SEQ_LEN = 32
#: A tiny model, sized for the test; the architecture options come from the presets.
TINY = {"d_model": 32, "n_layers": 2, "n_heads": 4, "d_ff": 64, "max_len": 48}
STEPS = 3
MAX_LOGIT_DIFF = 1e-4  # fp32


# --- presets ------------------------------------------------------------------------------------


def test_presets_give_their_papers_shapes() -> None:
    shapes = {
        name: tuple(
            getattr(TrainConfig(preset=name), f) for f in ("d_model", "n_layers", "n_heads")
        )
        for name in PRESETS
    }
    assert shapes == {
        "tiny": (128, 2, 4),
        "bert-base": (768, 12, 12),
        "gpt2-small": (768, 12, 12),
        "bart-base": (768, 6, 12),
        "t5-small": (512, 6, 8),
        "electra-small": (256, 12, 4),
    }
    tiny = TrainConfig(preset="tiny").model_dump()
    assert {**tiny, "preset": None} == TrainConfig().model_dump()
    bert, gpt2 = TrainConfig(preset="bert-base"), TrainConfig(preset="gpt2-small")
    assert (bert.d_ff, bert.max_len, bert.norm, bert.norm_eps) == (3072, 512, "post", 1e-12)
    assert (gpt2.d_ff, gpt2.max_len, gpt2.gelu, gpt2.head_bias) == (3072, 1024, "tanh", False)
    assert TrainConfig(preset="electra-small").generator_fraction == 0.25
    assert TrainConfig(preset="electra-small").d_ff == 1024
    bart = TrainConfig(preset="bart-base")
    assert (bart.d_ff, bart.max_len, bart.norm, bart.embed_norm, bart.norm_eps) == (
        3072, 1024, "post", True, 1e-5
    )  # fmt: skip
    # T5's decoder is as deep as its encoder (n_layers); what the model lacks stays pending.
    assert "n_decoder_layers" not in PRESETS["t5-small"].pending
    assert PRESETS["t5-small"].pending["norm_kind"] == "rms"
    fields = set(TrainConfig.model_fields)
    for preset in PRESETS.values():
        assert set(preset.fields) <= fields, preset.name
        assert not set(preset.pending) & set(preset.fields), preset.name


def test_explicit_fields_win_over_the_preset() -> None:
    config = TrainConfig(preset="bert-base", n_layers=2, d_model=128, n_heads=2, norm_eps=1e-6)
    assert (config.n_layers, config.d_model, config.n_heads, config.norm_eps) == (2, 128, 2, 1e-6)
    assert (config.d_ff, config.norm, config.head_transform) == (3072, "post", True)
    # An explicit value equal to the default still wins: the preset fills unset fields only.
    assert TrainConfig(preset="gpt2-small", head_bias=True).head_bias is True
    # A config written out (e.g. into a checkpoint) reads back the same.
    assert TrainConfig.model_validate_json(config.model_dump_json()) == config
    # The run config's `train:` section resolves the same way.
    from pipeline.config import RunConfig

    source = {"name": "a", "kind": "web", "format": "jsonl", "paths": ["x"]}
    run = RunConfig(sources=[source], train={"preset": "gpt2-small", "n_layers": 2})
    assert (run.train.n_layers, run.train.max_len, run.train.gelu) == (2, 1024, "tanh")


def test_unknown_preset_is_refused_with_the_known_ones() -> None:
    with pytest.raises(ValueError, match="unknown preset 'bert-huge'; known: tiny, bert-base"):
        TrainConfig(preset="bert-huge")


def test_default_options_keep_the_original_model() -> None:
    """No new parameter and no changed name without options: old checkpoints still load."""
    model = TransformerLM(ModelConfig(vocab_size=50, max_len=8))
    names = set(model.state_dict())
    assert "head_bias" in names and "ln_f.weight" in names
    assert not any(n.startswith(("emb_ln", "head_transform")) for n in names)


# --- export -------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A run directory laid out as the pipeline's: tokenizer/, shards/{mlm,clm,span,denoise}/,
    and train/ holding a BERT-options encoder trained for a few steps; train-clm/ beside it
    holds a GPT-2-options decoder (a training output folder of its own), train-span/ a
    BART-options encoder-decoder (span corruption) and train-denoise/ an mBART-options one
    (denoising)."""
    from trainer.loop import train

    root = tmp_path_factory.mktemp("export")
    (root / "corpus").mkdir()
    corpus = write_corpus(root / "corpus")
    run = root / "run"
    tokenizer = run / "tokenizer" / "tokenizer.json"
    train_tokenizer(corpus, tokenizer, TOKENIZER)
    write_hf_files(tokenizer.parent, SEQ_LEN)
    # span and denoise shards from the data-side builders when they are registered, else
    # hand-made rows with the same columns in this tokenizer's vocabulary.
    seq2seq = {"span": {"inputs_length": SEQ_LEN}, "denoise": {"seq_len": SEQ_LEN}}
    built = {name: value for name, value in seq2seq.items() if name in BUILDERS}
    shards = ShardsConfig(
        objectives=["mlm", "clm", *built],
        mlm=MLMConfig(seq_len=SEQ_LEN),
        clm=CLMConfig(seq_len=SEQ_LEN),
        rows_per_shard=400,
        val_fraction=0.1,
        encode_batch_docs=64,
        **built,
    )
    build_shards(corpus, tokenizer, run / "shards", shards)
    from tokenizers import Tokenizer

    vocab_size = Tokenizer.from_file(str(tokenizer)).get_vocab_size()
    for objective in set(seq2seq) - set(built):
        write_seq2seq_shards(run / "shards" / objective, objective, vocab_size=vocab_size)
    common = {"steps": STEPS, "batch_size": 8, "eval_every": 0, "lr": 3e-3, **TINY}
    train(run / "shards", run / "train", TrainConfig(preset="bert-base", **common), progress=None)
    train(
        run / "shards",
        run / "train-clm",
        TrainConfig(preset="gpt2-small", objective="clm", **common),
        progress=None,
    )
    train(
        run / "shards",
        root / "default-mlm",
        TrainConfig(**{**common, "max_len": 0}),
        progress=None,
    )
    for objective, options in (("span", BART_OPTIONS), ("denoise", MBART_OPTIONS)):
        config = TrainConfig(objective=objective, **{**common, **options})
        train(run / "shards", run / f"train-{objective}", config, progress=None)
    span_default = TrainConfig(objective="span", **{**common, "max_len": 0})
    train(run / "shards", root / "default-span", span_default, progress=None)
    return run


def _ours(checkpoint: Path) -> TransformerLM:
    payload = load_checkpoint(checkpoint)
    model = TransformerLM(ModelConfig(**payload["model_config"]))
    model.load_state_dict(payload["model"])
    return model.eval()


def _batch(tokenizer: object) -> dict[str, torch.Tensor]:
    texts = ["The miller carried a letter to the farm.", "A farmer", "Rain fell on the mill."]
    return tokenizer(texts, padding=True, return_tensors="pt")  # type: ignore[operator]


def _check_logits(out: Path, checkpoint: Path, auto_class: str) -> None:
    transformers = pytest.importorskip("transformers")
    hf = getattr(transformers, auto_class).from_pretrained(str(out)).eval()
    tokenizer = transformers.AutoTokenizer.from_pretrained(str(out))
    batch = _batch(tokenizer)
    ids, mask = batch["input_ids"], batch["attention_mask"]
    assert (mask == 0).any()  # padded: the mask matters
    ours = _ours(checkpoint)
    with torch.no_grad():
        mine = ours(ids, attention_mask=mask)
        theirs = hf(input_ids=ids, attention_mask=mask).logits
    keep = mask.bool()  # padded queries are not compared (ours lets them see themselves)
    assert mine.shape == theirs.shape
    assert (mine[keep] - theirs[keep]).abs().max().item() <= MAX_LOGIT_DIFF
    assert mine[keep].abs().max().item() > 1e-2  # trained logits, not zeros


def test_encoder_exports_as_bert_with_equal_logits(run_dir: Path, tmp_path: Path) -> None:
    pytest.importorskip("transformers")
    from trainer.export import export_model

    result = export_model(run_dir, tmp_path / "bert")
    assert result.architecture == "BertForMaskedLM"
    assert result.checkpoint == run_dir / "train" / "checkpoint.pt"
    config = json.loads((tmp_path / "bert" / "config.json").read_text())
    assert config["model_type"] == "bert" and config["layer_norm_eps"] == 1e-12
    assert (tmp_path / "bert" / "model.safetensors").is_file()
    _check_logits(tmp_path / "bert", result.checkpoint, "AutoModelForMaskedLM")


def test_decoder_exports_as_gpt2_with_equal_logits(run_dir: Path, tmp_path: Path) -> None:
    pytest.importorskip("transformers")
    from trainer.export import export_model

    # A training output folder (not a run directory): the tokenizer is found beside it.
    result = export_model(run_dir / "train-clm", tmp_path / "gpt2")
    assert result.architecture == "GPT2LMHeadModel"
    assert result.tokenizer == run_dir / "tokenizer"
    _check_logits(tmp_path / "gpt2", result.checkpoint, "AutoModelForCausalLM")


def test_exported_tokenizer_round_trips_with_its_special_tokens(
    run_dir: Path, tmp_path: Path
) -> None:
    transformers = pytest.importorskip("transformers")
    from tokenizers import Tokenizer

    from trainer.export import export_model

    export_model(run_dir / "train" / "checkpoint.pt", tmp_path / "bert")
    tokenizer = transformers.AutoTokenizer.from_pretrained(str(tmp_path / "bert"))
    for role, token_id in SPECIAL_IDS.items():
        assert getattr(tokenizer, f"{role}_token_id") == token_id, role
    ours = Tokenizer.from_file(str(run_dir / "tokenizer" / "tokenizer.json"))
    text = "The miller carried a letter to the farm."
    ids = tokenizer(text)["input_ids"]
    assert ids == ours.encode(text).ids
    assert ids[0] == SPECIAL_IDS["cls"] and ids[-1] == SPECIAL_IDS["sep"]
    assert tokenizer.decode(ids, skip_special_tokens=True) == ours.decode(ids)
    assert tokenizer.model_max_length == TINY["max_len"]


def test_tokenizer_is_written_without_transformers_too(
    run_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Where transformers is absent the tokenizer files come from the pipeline's own writer;
    the folder still loads with its special tokens."""
    transformers = pytest.importorskip("transformers")
    import sys

    from trainer.export import export_model

    with monkeypatch.context() as patch:
        patch.setitem(sys.modules, "transformers", None)  # `import transformers` now fails
        export_model(run_dir, tmp_path / "plain")
        export_model(run_dir / "train-span", tmp_path / "plain-bart")
    names = {p.name for p in (tmp_path / "plain").iterdir()}
    assert {"tokenizer.json", "tokenizer_config.json", "special_tokens_map.json"} <= names
    tokenizer = transformers.AutoTokenizer.from_pretrained(str(tmp_path / "plain"))
    assert tokenizer.pad_token_id == SPECIAL_IDS["pad"]
    assert tokenizer.mask_token_id == SPECIAL_IDS["mask"]
    # BART's tokenizer returns no segment ids, written this way too.
    bart = transformers.AutoTokenizer.from_pretrained(str(tmp_path / "plain-bart"))
    assert set(bart("A farmer")) == {"input_ids", "attention_mask"}
    assert bart.eos_token_id == SPECIAL_IDS["eos"]


def test_cli_exports_a_run_directory(run_dir: Path, tmp_path: Path, capsys) -> None:
    pytest.importorskip("transformers")
    from flows.cli import main

    out = tmp_path / "cli"
    assert main(["export", str(run_dir), "--out", str(out)]) == 0
    assert "BertForMaskedLM" in capsys.readouterr().out
    assert {"model.safetensors", "config.json", "tokenizer.json"} <= {p.name for p in out.iterdir()}
    _check_logits(out, run_dir / "train" / "checkpoint.pt", "AutoModelForMaskedLM")


def test_export_is_deterministic(run_dir: Path, tmp_path: Path) -> None:
    pytest.importorskip("safetensors")
    from trainer.export import export_model

    first, second = export_model(run_dir, tmp_path / "a"), export_model(run_dir, tmp_path / "b")
    for name in ("model.safetensors", "config.json"):
        assert (first.out / name).read_bytes() == (second.out / name).read_bytes()


def test_model_without_stock_equivalent_is_refused_by_option(
    run_dir: Path, tmp_path: Path, capsys
) -> None:
    pytest.importorskip("safetensors")
    from flows.cli import main

    source = run_dir.parent / "default-mlm"  # the original pre-norm encoder
    status = main(["export", str(source), "--out", str(tmp_path / "no")])
    err = capsys.readouterr().err.strip()
    assert status == 2 and len(err.splitlines()) == 1
    assert "cannot export" in err and "BertForMaskedLM" in err
    assert "norm 'post' (this model: 'pre')" in err
    assert "embed_norm True (this model: False)" in err
    assert "train.preset: bert-base" in err
    assert not (tmp_path / "no" / "model.safetensors").exists()


@pytest.mark.parametrize(
    ("family", "options", "extra"),
    [
        ("encoder", BERT_OPTIONS, {"n_classes": 2}),  # with NSP's pooler and classifier
        ("encoder", {**BERT_OPTIONS, "type_vocab_size": 0, "head_bias": False}, {}),
        ("encoder", {**BERT_OPTIONS, "gelu": "tanh"}, {}),
        ("decoder", GPT2_OPTIONS, {}),
        ("decoder", {**GPT2_OPTIONS, "gelu": "exact"}, {}),
        ("encoder-decoder", BART_OPTIONS, {}),
        ("encoder-decoder", MBART_OPTIONS, {}),
        ("encoder-decoder", {**BART_OPTIONS, "gelu": "tanh", "head_bias": False}, {}),
    ],
)
def test_every_weight_maps_onto_the_stock_class(family: str, options: dict, extra: dict) -> None:
    """Untrained but perturbed weights (LayerNorms and biases off their initial values), mapped
    straight onto the stock class: no weight left out or unused, and equal outputs."""
    transformers = pytest.importorskip("transformers")
    from trainer.export import exporter_for, family_of

    causal = family == "decoder"
    decoder_layers = 2 if family == "encoder-decoder" else 0
    cfg = ModelConfig(
        vocab_size=120, max_len=24, d_model=32, n_heads=4, d_ff=48, causal=causal,
        n_decoder_layers=decoder_layers, **options, **extra,
    )  # fmt: skip
    assert family_of(cfg) == family
    torch.manual_seed(0)
    model = TransformerLM(cfg).eval()
    with torch.no_grad():
        for param in model.parameters():
            param.add_(0.05 * torch.randn_like(param))
    exporter = exporter_for(cfg)
    assert exporter is not None
    config = exporter.config(cfg, {"bos": 5, "eos": 6}, 0 if decoder_layers else None)
    architecture = config["architectures"][0]
    hf_config = transformers.AutoConfig.for_model(**config)
    hf = getattr(transformers, architecture)(hf_config).eval()
    missing, unexpected = hf.load_state_dict(
        exporter.weights(cfg, model.state_dict()), strict=False
    )
    tied = {"cls.predictions.decoder.weight", "cls.predictions.decoder.bias", "lm_head.weight"}
    tied |= {f"model.{stack}.embed_tokens.weight" for stack in ("encoder", "decoder")}
    assert set(missing) <= tied and not unexpected
    hf.tie_weights()
    ids = torch.randint(7, 120, (3, 20))
    ids[1, 12:] = 0
    mask = (ids != 0).long()
    if decoder_layers:
        _check_seq2seq(model, hf, ids, mask)
        return
    segments = (torch.arange(20) >= 8).long().expand(3, -1) if extra else None
    with torch.no_grad():
        hidden = model.hidden(ids, mask, token_type_ids=segments)
        kwargs = {"token_type_ids": segments} if segments is not None else {}
        theirs = hf(input_ids=ids, attention_mask=mask, **kwargs)
    logits = getattr(theirs, "prediction_logits", None)
    logits = theirs.logits if logits is None else logits
    keep = mask.bool()
    assert (model.logits(hidden)[keep] - logits[keep]).abs().max().item() <= MAX_LOGIT_DIFF
    if extra:
        diff = model.classify(hidden) - theirs.seq_relationship_logits
        assert diff.abs().max().item() <= MAX_LOGIT_DIFF


def test_refusals_name_the_option() -> None:
    from trainer.export import refusal

    gpt2_with_bias = ModelConfig(
        vocab_size=50, max_len=8, causal=True, **{**GPT2_OPTIONS, "head_bias": True}
    )
    assert "head_bias False (this model: True)" in str(refusal(gpt2_with_bias))
    assert "train.preset: gpt2-small" in str(refusal(gpt2_with_bias))
    electra = ModelConfig(vocab_size=50, max_len=8, generator_fraction=0.25, **BERT_OPTIONS)
    assert "generator_fraction 0.0 (this model: 0.25)" in str(refusal(electra))
    assert refusal(ModelConfig(vocab_size=50, max_len=8, **BERT_OPTIONS)) is None
    assert refusal(ModelConfig(vocab_size=50, max_len=8, causal=True, **GPT2_OPTIONS)) is None
    seq2seq = {"vocab_size": 50, "max_len": 8, "n_decoder_layers": 1}
    assert refusal(ModelConfig(**seq2seq, **BART_OPTIONS)) is None
    assert refusal(ModelConfig(**seq2seq, **MBART_OPTIONS)) is None
    # Pre-norm without a final LayerNorm: neither BART nor mBART.
    odd = refusal(ModelConfig(**seq2seq, **{**MBART_OPTIONS, "final_norm": False}))
    assert "MBartForConditionalGeneration" in str(odd) and "final_norm True" in str(odd)
    # BART's LayerNorms have epsilon 1e-5 and no field to change it.
    eps = refusal(ModelConfig(**seq2seq, **{**BART_OPTIONS, "norm_eps": 1e-6}))
    assert "BartForConditionalGeneration" in str(eps) and "norm_eps 1e-05" in str(eps)
    assert "train.preset: bart-base" in str(eps)
    # The t5-small preset: T5's sizes, no stock equivalent (no embedding LayerNorm, eps 1e-6).
    t5 = TrainConfig(preset="t5-small")
    fields = {f: getattr(t5, f) for f in ("norm", "final_norm", "head_bias", "norm_eps")}
    t5_why = str(refusal(ModelConfig(**seq2seq, **fields)))
    assert "embed_norm True (this model: False)" in t5_why and "norm_eps 1e-05" in t5_why
    two_stream = refusal(ModelConfig(vocab_size=50, max_len=8, two_stream=True))
    assert "the two-stream family has no export yet" in str(two_stream)


# --- encoder-decoder ----------------------------------------------------------------------------


def _check_seq2seq(
    ours: TransformerLM, hf: torch.nn.Module, ids: torch.Tensor, mask: torch.Tensor
) -> None:
    """Ours and the stock model give the same decoder logits for the same encoder input and
    decoder input (padded rows in both), at every decoder position the mask keeps."""
    generator = torch.Generator().manual_seed(1)
    dec = torch.randint(7, ours.cfg.vocab_size, (ids.shape[0], 11), generator=generator)
    dec[:, 0] = PAD_ID  # a T5-style start token, kept by the mask
    dec[1, 6:] = PAD_ID
    dec_mask = (dec != PAD_ID).long()
    dec_mask[:, 0] = 1
    assert (mask == 0).any() and (dec_mask == 0).any()  # padded on both sides
    with torch.no_grad():
        mine = ours(
            ids, attention_mask=mask, decoder_input_ids=dec, decoder_attention_mask=dec_mask
        )
        theirs = hf(
            input_ids=ids,
            attention_mask=mask,
            decoder_input_ids=dec,
            decoder_attention_mask=dec_mask,
        ).logits
    keep = dec_mask.bool()
    assert mine.shape == theirs.shape
    assert (mine[keep] - theirs[keep]).abs().max().item() <= MAX_LOGIT_DIFF
    assert mine[keep].abs().max().item() > 1e-2


@pytest.mark.parametrize(
    ("objective", "architecture", "start_id"),
    [("span", "BartForConditionalGeneration", PAD_ID), ("denoise", "MBart", EOS_ID)],
)
def test_encoder_decoder_exports_with_equal_logits(
    run_dir: Path, tmp_path: Path, objective: str, architecture: str, start_id: int
) -> None:
    """A span-trained BART-options model exports as BART, a denoise-trained mBART-options one as
    mBART; AutoModelForSeq2SeqLM loads either with our logits, and the config's decoder start
    token is the objective's (T5's [PAD] for span, BART's [EOS] for denoise)."""
    transformers = pytest.importorskip("transformers")
    from trainer.export import export_model
    from trainer.objectives import OBJECTIVES

    result = export_model(run_dir / f"train-{objective}", tmp_path / objective)
    assert result.architecture.startswith(architecture)
    assert result.auto_class == "AutoModelForSeq2SeqLM"
    config = json.loads((tmp_path / objective / "config.json").read_text())
    assert config["is_encoder_decoder"] is True
    assert config["decoder_start_token_id"] == start_id
    assert SPECIAL_IDS[OBJECTIVES[objective].decoder_start or ""] == start_id
    hf = transformers.AutoModelForSeq2SeqLM.from_pretrained(str(tmp_path / objective)).eval()
    assert type(hf).__name__ == result.architecture
    tokenizer = transformers.AutoTokenizer.from_pretrained(str(tmp_path / objective))
    assert tokenizer.pad_token_id == SPECIAL_IDS["pad"]
    batch = _batch(tokenizer)
    _check_seq2seq(_ours(result.checkpoint), hf, batch["input_ids"], batch["attention_mask"])


def test_exported_encoder_decoder_generates_as_ours(run_dir: Path, tmp_path: Path) -> None:
    """`generate` (greedy, [EOS] held back for a few tokens) starts from the written decoder start
    token and picks the tokens our model's greedy decoding picks."""
    transformers = pytest.importorskip("transformers")
    from trainer.export import export_model

    result = export_model(run_dir / "train-denoise", tmp_path / "hf")
    hf = transformers.AutoModelForSeq2SeqLM.from_pretrained(str(tmp_path / "hf")).eval()
    tokenizer = transformers.AutoTokenizer.from_pretrained(str(tmp_path / "hf"))
    batch = _batch(tokenizer)
    ids, mask = batch["input_ids"], batch["attention_mask"]
    steps = 5
    with torch.no_grad():
        # The batch as the tokenizer gives it: no segment ids, which BART would refuse.
        assert set(batch) == {"input_ids", "attention_mask"}
        theirs = hf.generate(
            **batch,
            max_new_tokens=steps,
            min_new_tokens=steps,
            do_sample=False,
            num_beams=1,
        )
        ours = _ours(result.checkpoint)
        dec = torch.full((ids.shape[0], 1), EOS_ID)
        for _ in range(steps):
            dec_mask = torch.ones_like(dec)
            logits = ours(
                ids, attention_mask=mask, decoder_input_ids=dec, decoder_attention_mask=dec_mask
            )
            logits[:, -1, EOS_ID] = float("-inf")  # as min_new_tokens does
            dec = torch.cat([dec, logits[:, -1].argmax(dim=-1, keepdim=True)], dim=1)
    assert theirs[:, 0].tolist() == [EOS_ID] * ids.shape[0]
    assert theirs.tolist() == dec.tolist()


def test_encoder_decoder_without_stock_options_is_refused(
    run_dir: Path, tmp_path: Path, capsys
) -> None:
    pytest.importorskip("safetensors")
    from flows.cli import main

    source = run_dir.parent / "default-span"  # pre-norm, no embedding LayerNorm
    assert main(["export", str(source), "--out", str(tmp_path / "no")]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert "the encoder-decoder family exports as MBartForConditionalGeneration" in err
    assert "embed_norm True (this model: False)" in err
    assert not (tmp_path / "no" / "model.safetensors").exists()


def test_decoder_start_follows_the_objectives_and_refuses_a_mix_of_two() -> None:
    from trainer.export import ExportError, decoder_start_id

    def payload(**train: object) -> dict:
        return {
            "model_config": {"n_decoder_layers": 1},
            "config": TrainConfig(**train).model_dump_json(),
            "shards": {"special_ids": dict(SPECIAL_IDS)},
        }

    where = Path("checkpoint.pt")
    assert decoder_start_id(payload(objective="span"), where) == PAD_ID
    assert decoder_start_id(payload(objective="denoise"), where) == EOS_ID
    # An encoder objective mixed in has no decoder start of its own.
    assert decoder_start_id(payload(objectives={"mlm": 1.0, "denoise": 1.0}), where) == EOS_ID
    with pytest.raises(ExportError, match=r"different tokens \(denoise: \[EOS\], span: \[PAD\]\)"):
        decoder_start_id(payload(objectives={"span": 1.0, "denoise": 1.0}), where)
    no_decoder = {**payload(objective="mlm"), "model_config": {"n_decoder_layers": 0}}
    assert decoder_start_id(no_decoder, where) is None


def test_bad_sources_are_one_line(run_dir: Path, tmp_path: Path, capsys) -> None:
    pytest.importorskip("safetensors")
    from flows.cli import main

    assert main(["export", str(tmp_path / "nowhere"), "--out", str(tmp_path / "o")]) == 2
    assert "no such file or folder" in capsys.readouterr().err
    broken = tmp_path / "broken.pt"
    broken.write_bytes(b"not a checkpoint")
    assert main(["export", str(broken), "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err.strip()
    assert "not a readable checkpoint" in err and len(err.splitlines()) == 1
    # A checkpoint far from any run directory needs --tokenizer.
    lone = tmp_path / "lone" / "checkpoint.pt"
    lone.parent.mkdir()
    lone.write_bytes((run_dir / "train" / "checkpoint.pt").read_bytes())
    assert main(["export", str(lone), "--out", str(tmp_path / "o")]) == 2
    assert "pass --tokenizer DIR" in capsys.readouterr().err
    tokenizer = run_dir / "tokenizer"
    assert (
        main(["export", str(lone), "--out", str(tmp_path / "o"), "--tokenizer", str(tokenizer)])
        == 0
    )


def test_core_modules_do_not_import_transformers() -> None:
    """transformers is an optional extra: importing the CLI, the trainer and the exporter must
    not load it (a fresh interpreter, since this one may have it loaded already)."""
    import subprocess
    import sys

    code = (
        "import sys, flows.cli, trainer.loop, trainer.export, trainer.presets; "
        "sys.exit('transformers' in sys.modules)"
    )
    root = Path(__file__).resolve().parents[1]
    assert subprocess.run([sys.executable, "-c", code], cwd=root, check=False).returncode == 0
