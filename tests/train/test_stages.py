"""The training stages: the prior's loss weighting (codes unlike their predecessor count more), layout
tokens in its sequences, and the decoder's layout input."""

from pathlib import Path

import pytest
import torch

from limner.model.native import NativeModel
from limner.train.run import train
from limner.train.stages import novel_token_weights
from limner.train.trainer import TrainConfig


def test_novel_token_weights_mark_changes_only() -> None:
    inputs = torch.tensor([[5, 7, 7, 7, 9]])
    targets = torch.tensor([[7, 7, 7, 9, 9]])  # targets[t] follows inputs[t]
    w = novel_token_weights(inputs, targets, 3.0)
    assert w.tolist() == [[4.0, 1.0, 1.0, 4.0, 1.0]]
    assert torch.equal(novel_token_weights(inputs, targets, 0.0), torch.ones(1, 5))


def test_negative_novel_weight_is_refused() -> None:
    with pytest.raises(ValueError, match="novel_weight must be >= 0, got -1"):
        novel_token_weights(torch.zeros(1, 2, dtype=torch.long), torch.zeros(1, 2, dtype=torch.long), -1.0)


def test_weighted_prior_stage_logs_plain_and_novel_ce(tmp_path: Path) -> None:
    tok = TrainConfig(stage="tokenizer", out_dir=str(tmp_path / "tok"), steps=1, batch_size=2, warmup=1, log_every=1)
    train("tokenizer", tok, size="tiny", crop=64, log=lambda s: None)
    pri = TrainConfig(stage="prior", out_dir=str(tmp_path / "prior"), steps=2, batch_size=2, warmup=1, log_every=1)
    last = train("prior", pri, tokenizer_ckpt=str(tmp_path / "tok" / "model.safetensors"), novel_weight=3.0,
                 first_weight=1.0, log=lambda s: None)
    # the novel codes (first code, edges) are the hard ones: their CE is above the plain mean's floor
    assert last["img_ce"] > 0 and last["novel_ce"] > 0
    # the tiny size writes layouts: their CE is logged, near ln(vocabulary) for a fresh prior
    assert 3 < last["lay_ce"] < 10 and 3 < last["first_ce"] < 12  # first_ce: one code an image, near ln(V)


def test_layout_tokens_sit_between_img_and_the_codes() -> None:
    from limner.model.layout import END, LayoutItem, encode_layout
    from limner.model.sequence import build_training_sequences
    from limner.model.text_tokenizer import TextTokenizer

    text = TextTokenizer.build_default(200)
    codes = torch.zeros(2, 2, 2, dtype=torch.long)
    lay = [LayoutItem.quantize("star", 0.5, 0.5, 0.1)]
    seq = build_training_sequences(text, ["a star", "x"], codes, (256, 256), [False, False], 48,
                                   layouts=[lay, None], layout_offset=1000)
    assert seq.is_layout is not None
    row = seq.tokens[0].tolist()
    i = row.index(text.id("<img>"))
    assert row[i + 1 : i + 6] == [1000 + t for t in encode_layout(lay)]
    assert seq.is_layout[0].sum() == 5 and seq.is_layout[1].sum() == 1  # None is the empty layout, <lay_end>
    assert row[i + 6] == text.vocab_size and seq.is_image[0, i + 6] and not seq.is_image[0, i + 5]
    assert seq.tokens[1, seq.is_layout[1]].tolist() == [1000 + END]


def test_decoder_stage_trains_the_layout_input(tmp_path: Path) -> None:
    from limner.model.config import get_config
    from limner.train.batches import SceneBatcher
    from limner.train.stages import DecoderStage

    stage = DecoderStage(get_config("tiny"), crop=64)
    batch = next(SceneBatcher(2, 0, mix={"single_object": 1.0}, sizes={(256, 256): 1.0}))
    assert batch.layouts and all(len(x or []) == 1 for x in batch.layouts)
    loss, _ = stage(batch)
    loss.backward()
    g = stage.decoder.layout_out.weight.grad
    assert g is not None and g.abs().sum() > 0  # zero-initialised, but learning from the first step


def spy_on_decoder_loss(stage: torch.nn.Module, monkeypatch: pytest.MonkeyPatch) -> dict[str, torch.Tensor]:
    """Replace the stage decoder's loss by a spy; the dict it returns gets the codes and layout map it was given."""
    seen: dict[str, torch.Tensor] = {}

    def spy(codes: torch.Tensor, *args: object, layout: torch.Tensor | None = None, **kw: object) -> torch.Tensor:
        seen["codes"], seen["layout"] = codes, layout  # type: ignore[assignment]
        return torch.zeros((), requires_grad=True)

    monkeypatch.setattr(stage.decoder, "loss", spy)
    return seen


def test_decoder_stage_paints_layout_scenes(monkeypatch: pytest.MonkeyPatch) -> None:
    """With layout_colour every kept layout of a text-free scene may be painted: the decoder is then trained on a
    plain background grid, and its colour input gets the objects' colours."""
    from limner.model.config import get_config
    from limner.model.layout import BASE_MAP_CHANNELS
    from limner.train import stages
    from limner.train.batches import SceneBatcher

    monkeypatch.setattr(stages, "PAINT_SHARE", 1.0)
    monkeypatch.setattr(stages, "LAYOUT_DROP", 0.0)
    stage = stages.DecoderStage(get_config("tiny"), crop=64)
    seen = spy_on_decoder_loss(stage, monkeypatch)
    batch = next(SceneBatcher(2, 0, mix={"single_object": 1.0}, sizes={(256, 256): 1.0}))
    stage(batch)
    codes, lmap = seen["codes"], seen["layout"]
    assert lmap is not None and lmap[:, BASE_MAP_CHANNELS + 3].amax() == 1  # colours known
    flat = codes.flatten(2)  # (B, D, h*w): every cell the same code
    assert torch.equal(flat, flat[:, :, :1].expand_as(flat))


def test_parse_mix_reads_weights_and_names_bad_parts() -> None:
    from limner.train.run import parse_mix

    assert parse_mix("single_object=1, colors=0.5,text") == {"single_object": 1.0, "colors": 0.5, "text": 1.0}
    with pytest.raises(ValueError, match="unknown tag 'shapes'"):
        parse_mix("shapes=1")
    with pytest.raises(ValueError, match="bad weight 'lots'"):
        parse_mix("colors=lots")
    with pytest.raises(ValueError, match="no tag a positive weight"):
        parse_mix("colors=0")


def test_decoder_stage_decodes_the_priors_own_codes_for_a_share_of_examples(
    tiny_model: NativeModel, monkeypatch: pytest.MonkeyPatch
) -> None:
    """--prior-codes: the chosen rows' codes are the ones the (real, tiny) prior samples for their caption with
    their true layout teacher-forced, and those rows keep the whole layout with its colours (never painted)."""
    from limner.model.layout import BASE_MAP_CHANNELS
    from limner.train import stages
    from limner.train.batches import SceneBatcher
    from limner.train.prior_codes import prior_code_sampler

    monkeypatch.setattr(stages, "LAYOUT_DROP", 1.0)  # every other row would lose its layout
    # the random tiny prior never draws a true background: keep every row, to see the wiring (the filter itself is
    # tested on real codes below)
    monkeypatch.setattr(stages, "background_agrees", lambda tok, a, b, lays: [True] * len(lays))
    drawn: list[torch.Tensor] = []
    sampler = prior_code_sampler(tiny_model, seed=0)

    def spy_sampler(prompts: list[str], size: tuple[int, int], layouts: list) -> torch.Tensor:  # type: ignore[type-arg]
        out = sampler(prompts, size, layouts)
        drawn.append(out)
        return out

    stage = stages.DecoderStage(tiny_model.config, crop=64, prior_codes=1.0, code_sampler=spy_sampler)
    seen = spy_on_decoder_loss(stage, monkeypatch)
    batch = next(SceneBatcher(2, 0, mix={"single_object": 1.0}, sizes={(256, 256): 1.0}))
    stage(batch)
    assert len(drawn) == 1 and drawn[0].shape == (2, 16, 16)
    want = stage.tokenizer.fsq.indices_to_codes(drawn[0])
    assert torch.equal(seen["codes"], want)  # the decoder read the prior's codes, not the true image's
    lmap = seen["layout"]
    assert lmap is not None and lmap[:, BASE_MAP_CHANNELS + 3].amax() == 1  # layout and colours kept


def test_prior_codes_share_is_checked() -> None:
    from limner.model.config import get_config
    from limner.train.stages import DecoderStage

    with pytest.raises(ValueError, match="prior_codes must be in \\[0, 1\\], got 1.5"):
        DecoderStage(get_config("tiny"), crop=64, prior_codes=1.5)
    with pytest.raises(ValueError, match="needs a code sampler"):
        DecoderStage(get_config("tiny"), crop=64, prior_codes=0.5)


def test_only_examples_whose_sampled_background_is_right_are_kept() -> None:
    """background_agrees on real codes: an image's own codes agree; codes of the same scene on another background
    do not."""
    from limner.data.scene import Scene, SceneObject, render, to_array
    from limner.engine.generator import default_checkpoint
    from limner.model.layout import scene_layout
    from limner.train.prior_codes import background_agrees

    tok = NativeModel.from_checkpoint(default_checkpoint()).tokenizer  # the shipped, trained tokenizer
    white = Scene(256, 256, "white", [SceneObject("star", "red", cx=0.5, cy=0.5)])
    blue = Scene(256, 256, "blue", [SceneObject("star", "red", cx=0.5, cy=0.5)])
    x = torch.stack([torch.from_numpy(to_array(render(s))) for s in (white, blue)])
    with torch.no_grad():
        idx = tok.encode(x)[1]
    lay = scene_layout(white)
    agree = background_agrees(tok, idx[[0, 0]], idx[[1, 0]], [lay, lay])
    assert agree == [False, True]
