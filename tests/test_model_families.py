"""The model families: the encoder-decoder (causal decoder, cross-attention to the encoder,
padding masked, shared embeddings and head), the existing families' parameters unchanged, and
the trainer's choice of family for `span` and `denoise` shards (hand-made ones)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from pipeline.shards.format import EOS_ID, IGNORE_INDEX, PAD_ID
from tests.objectives.helpers import TINY
from tests.seq2seq_fixtures import write_seq2seq_shards
from trainer.config import TrainConfig
from trainer.export import family_of
from trainer.loop import model_config_for
from trainer.model import ModelConfig, TransformerLM
from trainer.objectives import get_objective
from trainer.objectives.span import shift_right
from trainer.shards import load_manifest

VOCAB = 300


def seq2seq(layers: int = 2) -> TransformerLM:
    torch.manual_seed(0)
    config = ModelConfig(
        vocab_size=VOCAB, max_len=32, d_model=32, n_layers=layers, n_heads=2, d_ff=64,
        n_decoder_layers=layers,
    )  # fmt: skip
    return TransformerLM(config).eval()


def batch(rows: int = 3) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(1)
    encoder = torch.randint(110, VOCAB, (rows, 20), generator=generator)
    decoder = torch.randint(110, VOCAB, (rows, 12), generator=generator)
    decoder[:, 0] = EOS_ID
    mask = torch.ones_like(encoder)
    return encoder, mask, decoder


def test_the_decoder_is_causal() -> None:
    model = seq2seq()
    encoder, mask, decoder = batch()
    with torch.no_grad():
        before = model(encoder, attention_mask=mask, decoder_input_ids=decoder)
        changed = decoder.clone()
        changed[:, 7:] = 150
        after = model(encoder, attention_mask=mask, decoder_input_ids=changed)
    assert torch.allclose(before[:, :7], after[:, :7], atol=1e-5)
    assert not torch.allclose(before[:, 7:], after[:, 7:], atol=1e-5)


def test_cross_attention_reads_the_whole_encoder() -> None:
    model = seq2seq()
    encoder, mask, decoder = batch()
    with torch.no_grad():
        before = model(encoder, attention_mask=mask, decoder_input_ids=decoder)
        changed = encoder.clone()
        changed[:, -1] = 151  # the encoder's last token: every decoder position sees it
        after = model(changed, attention_mask=mask, decoder_input_ids=decoder)
    for t in range(decoder.shape[1]):
        assert not torch.allclose(before[:, t], after[:, t], atol=1e-6), t


def test_padding_is_masked_on_both_sides() -> None:
    model = seq2seq()
    encoder, mask, decoder = batch()
    mask[:, 15:] = 0
    decoder_mask = torch.ones_like(decoder)
    decoder_mask[:, 9:] = 0
    with torch.no_grad():
        before = model(
            encoder, attention_mask=mask, decoder_input_ids=decoder,
            decoder_attention_mask=decoder_mask,
        )  # fmt: skip
        enc, dec = encoder.clone(), decoder.clone()
        enc[:, 15:] = PAD_ID
        dec[:, 9:] = 160
        after = model(
            enc, attention_mask=mask, decoder_input_ids=dec, decoder_attention_mask=decoder_mask
        )
    assert torch.allclose(before[:, :9], after[:, :9], atol=1e-5)


def test_the_loss_is_the_decoders_and_embeddings_are_shared() -> None:
    model = seq2seq(layers=1)
    encoder, mask, decoder = batch()
    labels = torch.cat([decoder[:, 1:], torch.full_like(decoder[:, :1], IGNORE_INDEX)], dim=1)
    with torch.no_grad():
        logits = model(encoder, attention_mask=mask, decoder_input_ids=decoder)
        loss = model(encoder, labels, attention_mask=mask, decoder_input_ids=decoder)
    expected = torch.nn.functional.cross_entropy(
        logits.reshape(-1, VOCAB), labels.reshape(-1), ignore_index=IGNORE_INDEX
    )
    assert torch.allclose(loss, expected, atol=1e-5)
    names = [name for name, _ in model.named_parameters()]
    assert sum("tok_emb" in n for n in names) == 1 and "head_bias" in names
    assert {n.split(".")[2] for n in names if n.startswith("decoder.0.")} >= {
        "attn", "cross", "ln_cross", "mlp"
    }  # fmt: skip


def test_existing_families_keep_their_parameter_names() -> None:
    config = ModelConfig(vocab_size=VOCAB, max_len=16, d_model=16, n_layers=1, n_heads=2, d_ff=32)
    names = [name for name, _ in TransformerLM(config).named_parameters()]
    assert [n for n in names if n.startswith("blocks.0.")] == [
        "blocks.0.ln1.weight", "blocks.0.ln1.bias", "blocks.0.attn.qkv.weight",
        "blocks.0.attn.qkv.bias", "blocks.0.attn.out.weight", "blocks.0.attn.out.bias",
        "blocks.0.ln2.weight", "blocks.0.ln2.bias", "blocks.0.mlp.0.weight", "blocks.0.mlp.0.bias",
        "blocks.0.mlp.2.weight", "blocks.0.mlp.2.bias",
    ]  # fmt: skip
    assert not any(n.startswith(("decoder", "ln_dec", "query_emb")) for n in names)


def test_span_decoder_inputs_start_with_pad() -> None:
    labels = torch.tensor([[7, 120, 121, 8, 130, EOS_ID, IGNORE_INDEX, IGNORE_INDEX]])
    assert shift_right(labels, PAD_ID).tolist() == [[PAD_ID, 7, 120, 121, 8, 130, EOS_ID, PAD_ID]]


@pytest.mark.parametrize("objective", ["span", "denoise"])
def test_the_trainer_picks_the_encoder_decoder(objective: str, tmp_path: Path) -> None:
    shards = write_seq2seq_shards(tmp_path / objective, objective, seq_len=40, target_len=48)
    manifest = load_manifest(shards)
    config = model_config_for(manifest, TrainConfig(**TINY), get_objective(objective))
    assert config.n_decoder_layers == TINY["n_layers"] and not config.causal
    assert config.max_len == (48 if objective == "span" else 40)  # the longest column


def test_post_norm_decoder_stays_causal() -> None:
    torch.manual_seed(0)
    config = ModelConfig(
        vocab_size=VOCAB, max_len=32, d_model=32, n_layers=1, n_heads=2, d_ff=64,
        n_decoder_layers=1, norm="post", embed_norm=True, final_norm=False,
    )  # fmt: skip
    model = TransformerLM(config).eval()
    encoder, mask, decoder = batch()
    with torch.no_grad():
        before = model(encoder, attention_mask=mask, decoder_input_ids=decoder)
        changed = decoder.clone()
        changed[:, 5:] = 150
        after = model(encoder, attention_mask=mask, decoder_input_ids=changed)
    assert torch.allclose(before[:, :5], after[:, :5], atol=1e-5)


def test_export_names_the_new_families() -> None:
    base = {"vocab_size": VOCAB, "max_len": 16, "d_model": 16, "n_heads": 2, "d_ff": 32}
    assert family_of(ModelConfig(**base, n_decoder_layers=1)) == "encoder-decoder"
    assert family_of(ModelConfig(**base, two_stream=True)) == "two-stream"
    assert family_of(ModelConfig(**base)) == "encoder"
    assert family_of(ModelConfig(**base, causal=True)) == "decoder"
