import numpy as np
import pytest
import torch

from limner.data.scene import Scene, render, to_array
from limner.data.world import color_rgb
from limner.engine.decode import SamplingParams, left_pad, sample_tokens
from limner.engine.generator import GenerateOptions, Generator, resolve_size
from limner.engine.glyphs import requested_text
from limner.model.native import NativeModel


def test_left_pad_positions() -> None:
    tokens, valid, pos = left_pad([[5, 6, 7], [8]], pad=0)
    assert tokens.tolist() == [[5, 6, 7], [0, 0, 8]]
    assert pos.tolist() == [[0, 1, 2], [0, 0, 0]]
    assert valid.tolist() == [[True, True, True], [False, False, True]]


def test_batched_sampling_equals_one_at_a_time(tiny_model: NativeModel) -> None:
    p = SamplingParams(temperature=0.0, cfg_scale=2.0)
    prompts = ["a red circle", "three blue stars in a row on a grey background"]
    both = sample_tokens(tiny_model, prompts, (256, 256), p).codes
    for i, pr in enumerate(prompts):
        assert torch.equal(sample_tokens(tiny_model, [pr], (256, 256), p).codes[0], both[i])


def test_generate_n_sizes_seeds_and_previews(tiny_model: NativeModel) -> None:
    gen = Generator(tiny_model)
    seen: list[tuple[str, int, int, int]] = []

    def progress(stage: str, done: int, total: int, imgs: object) -> None:
        if imgs is not None:
            seen.append((stage, done, total, len(imgs)))  # type: ignore[arg-type]

    ims = gen.generate("a star", GenerateOptions(n=3, seed=4, size=(384, 256), preview_every=96), progress)
    assert [im.size for im in ims] == [(384, 256)] * 3 and ims[0].mode == "RGB"
    assert ("tokens", 96, 384, 3) in seen and seen[-1][0] == "decode"
    again = gen.generate("a star", GenerateOptions(n=3, seed=4, size=(384, 256)))
    assert [a.tobytes() for a in ims] == [b.tobytes() for b in again]
    other = gen.generate("a star", GenerateOptions(n=1, seed=5, size=(384, 256)))
    assert other[0].tobytes() != ims[0].tobytes()
    t = gen.generate("a ring", GenerateOptions(background="transparent", size=(256, 384)))[0]
    assert t.mode == "RGBA" and t.size == (256, 384)


def test_bad_options_are_named(tiny_model: NativeModel) -> None:
    gen = Generator(tiny_model)
    with pytest.raises(ValueError, match="n must be between 1 and 10, got 11"):
        gen.generate("x", GenerateOptions(n=11))
    with pytest.raises(ValueError, match="'ultra'"):
        gen.generate("x", GenerateOptions(quality="ultra"))
    with pytest.raises(ValueError, match="empty"):
        gen.generate("   ")
    with pytest.raises(ValueError, match="32000"):
        gen.generate("a" * 32001)
    with pytest.raises(ValueError, match="top_k must be >= 0 .0: off., got -5"):
        gen.generate("x", GenerateOptions(sampling=SamplingParams(top_k=-5)))


def test_size_auto_and_text_requests() -> None:
    assert resolve_size("auto", "a wide banner") == (384, 256)
    assert resolve_size("auto", "a star") == (256, 256)
    assert resolve_size("256x384", "") == (256, 384)
    t = requested_text("a blue sign that says 'OPEN 7 DAYS', 'HELLO' at the top")
    assert t is not None and t.lines == ["OPEN 7 DAYS", "HELLO"] and t.position == "top"
    assert requested_text("a red circle") is None


def test_paint_mode_plains_layout_images_and_keeps_text_images(tiny_model: NativeModel) -> None:
    from limner.model.layout import LayoutItem

    gen = Generator(tiny_model)
    k = tiny_model.config.tokenizer.codebook_size
    codes = torch.randint(0, k, (3, 16, 16), generator=torch.Generator().manual_seed(0))
    lay = [LayoutItem.quantize("heart", 0.3, 0.3, 0.2), LayoutItem.quantize("star", 0.7, 0.7, 0.15)]
    glyph = torch.zeros(3, 1, 256, 256)
    glyph[1, :, 100:120, 50:200] = 1.0  # image 1 asks for text: its codes carry it, so it is not painted
    out, lays = gen.paint(codes, [lay, lay, []], glyph)
    assert len(out[0].unique()) == 1 and lays[0] == lay and all(it.rgb is not None for it in lays[0])
    assert torch.equal(out[1:], codes[1:]) and lays[1] == lay and all(it.rgb is None for it in lays[1])
    assert lays[2] == []
    # the whole path, on and off: both decode, and the switch changes the picture
    on = gen.generate("a heart and a star", GenerateOptions(n=1, seed=2, size=(256, 256),
                                                            sampling=SamplingParams(paint=True)), layout=lay)
    off = gen.generate("a heart and a star", GenerateOptions(n=1, seed=2, size=(256, 256)), layout=lay)
    assert on[0].size == off[0].size == (256, 256) and on[0].tobytes() != off[0].tobytes()


def test_paint_mode_still_streams_previews(tiny_model: NativeModel) -> None:
    from limner.model.layout import LayoutItem

    lay = [LayoutItem.quantize("heart", 0.3, 0.3, 0.2, rgb=(255, 0, 0))]  # planned colours: a paint image
    gen = Generator(tiny_model)
    previews: list[int] = []
    done: list[int] = []

    def cb(stage: str, d: int, total: int, imgs: object) -> None:
        if stage == "tokens":
            done.append(d)
            if imgs:
                previews.append(d)

    paint = SamplingParams(paint=True)
    gen.generate("a red heart", GenerateOptions(n=1, seed=0, size=(256, 256), sampling=paint), progress=cb, layout=lay)
    assert len(done) < 256 and not previews  # no previews asked: the grid stopped at the background code
    done.clear()
    gen.generate("a red heart", GenerateOptions(n=1, seed=0, size=(256, 256), preview_every=64, sampling=paint),
                 progress=cb, layout=lay)
    assert previews == [64, 128, 192] and done[-1] == 256


def test_an_edit_is_painted_only_when_its_layout_knows_every_colour(tiny_model: NativeModel) -> None:
    """Fixed codes (an edit) with a fully coloured layout are decoded from a plain grid of the codes' commonest
    free code; with a colourless item they are decoded from the codes themselves."""
    from limner.model.layout import LayoutItem

    seen: list[torch.Tensor] = []

    class Spy(Generator):
        def decode(self, codes, glyph, steps, generator, noise=0.0, layouts=None):  # type: ignore[no-untyped-def]
            seen.append(codes.clone())
            return super().decode(codes, glyph, steps, generator, noise, layouts)

    gen = Spy(tiny_model)
    fixed = torch.full((1, 16, 16), 11)
    fixed[0, 4:8, 4:8] = -1  # the region to redraw
    coloured = [LayoutItem.quantize("heart", 0.75, 0.75, 0.1, rgb=(255, 0, 0)),
                LayoutItem.quantize("star", 0.375, 0.375, 0.1, rgb=(0, 0, 255))]
    opts = GenerateOptions(n=1, seed=0, size=(256, 256), sampling=SamplingParams(paint=True))
    gen.generate("a blue star", opts, fixed=fixed, layout=coloured)
    assert seen[-1].unique().tolist() == [11]
    gen.generate("a blue star", opts, fixed=fixed, layout=[coloured[0], LayoutItem.quantize("star", 0.375, 0.375, 0.1)])
    kept = fixed >= 0
    assert torch.equal(seen[-1][kept], fixed[kept]) and len(seen[-1].unique()) > 1


def test_a_coloured_background_is_painted_on_white_and_laid_onto_it() -> None:
    """decode_layered on the shipped model: a purple plain grid with a red heart is decoded on the white code,
    beside its background alone, and comes out purple with a red heart; a white grid is decoded as it is."""
    from limner.engine.generator import default_checkpoint
    from limner.model.layout import LayoutItem

    seen: list[torch.Tensor] = []

    class Spy(Generator):
        def decode(self, codes, glyph, steps, generator, noise=0.0, layouts=None):  # type: ignore[no-untyped-def]
            seen.append(codes.clone())
            return super().decode(codes, glyph, steps, generator, noise, layouts)

    gen = Spy(NativeModel.from_checkpoint(default_checkpoint()))
    x0 = torch.from_numpy(to_array(render(Scene(256, 256, "purple"))))[None]
    purple = int(gen.model.tokenizer.encode(x0)[1][0, 8, 8])
    lay = [LayoutItem.quantize("heart", 0.5, 0.5, 0.2, rgb=(220, 30, 40))]
    codes = torch.stack([torch.full((16, 16), purple), torch.full((16, 16), gen.white_code)])
    x = gen.decode_layered(codes, torch.zeros(2, 1, 256, 256), 4, torch.Generator().manual_seed(0), 0.0, [lay, lay])
    drawn = seen[-1]
    assert drawn.shape[0] == 3 and (drawn[0] == gen.white_code).all() and (drawn[2] == purple).all()
    rgb = ((x[0, :3] + 1) * 127.5).round()  # (3, H, W)
    corner, centre = rgb[:, 8, 8], rgb[:, 128, 128]
    assert (corner - torch.tensor(color_rgb("purple"))).abs().max() < 40
    assert (centre - torch.tensor([220.0, 30, 40])).abs().max() < 40
    white = ((x[1, :3] + 1) * 127.5).round()  # on white: the decoder's shape, the layout's colour
    assert (white[:, 128, 128] - torch.tensor([220.0, 30, 40])).abs().max() <= 6
    assert (white[:, 8, 8] - 255).abs().max() < 20


def test_a_planned_backdrop_replaces_the_background_code_the_prior_drew() -> None:
    """generate(backdrop=...) on the shipped model: the painted grid is the planned colour's code throughout, and
    the image comes out that colour away from its object."""
    from limner.engine.generator import default_checkpoint
    from limner.model.layout import LayoutItem

    seen: list[torch.Tensor] = []

    class Spy(Generator):
        def decode_layered(self, codes, glyph, steps, generator, noise, layouts):  # type: ignore[no-untyped-def]
            seen.append(codes.clone())
            return super().decode_layered(codes, glyph, steps, generator, noise, layouts)

    gen = Spy(NativeModel.from_checkpoint(default_checkpoint()))
    lay = [LayoutItem.quantize("heart", 0.5, 0.5, 0.2, rgb=(220, 30, 40))]
    im = gen.generate("a red heart", GenerateOptions(seed=0, size=(256, 256), sampling=SamplingParams(paint=True)),
                      layout=lay, backdrop="#7064A8")[0]
    assert (seen[-1] == gen.colour_code("#7064A8")).all()
    corner = np.array(im.convert("RGB"))[8, 8].astype(float)
    assert np.abs(corner - np.array([0x70, 0x64, 0xA8])).max() < 40
    assert gen.colour_code("#7064A8") != gen.white_code


def test_the_default_pixel_path_is_native_and_paint_mode_is_opt_in(tiny_model: NativeModel) -> None:
    """The default decodes the codes the prior drew, with the prior's own layout as the decoder's map; nothing
    replaces them. Paint mode only with SamplingParams(paint=True)."""
    from limner.engine.generator import PIXEL_PATHS, decoder_layouts, pixel_path
    from limner.model.layout import LayoutItem

    assert not SamplingParams().paint and SamplingParams().decoder_layout == "full"
    assert pixel_path(False, False) == "native" and pixel_path(True, True) == "paint+planner"
    assert {pixel_path(p, q) for p in (False, True) for q in (False, True)} == set(PIXEL_PATHS)
    seen: list[tuple[torch.Tensor, object]] = []

    class Spy(Generator):
        def decode(self, codes, glyph, steps, generator, noise=0.0, layouts=None):  # type: ignore[no-untyped-def]
            seen.append((codes.clone(), layouts))
            return super().decode(codes, glyph, steps, generator, noise, layouts)

    gen = Spy(tiny_model)
    lay = [LayoutItem.quantize("heart", 0.3, 0.3, 0.2, rgb=(255, 0, 0))]
    gen.generate("a red heart", GenerateOptions(n=1, seed=0, size=(256, 256)), layout=lay)
    codes, lays = seen[-1]
    assert len(codes.unique()) > 1 and lays == [lay]  # the random prior's codes, not a plain grid
    assert lays[0][0].rgb == (255, 0, 0)  # type: ignore[index]
    assert decoder_layouts([lay], "geometry")[0][0].rgb is None  # type: ignore[index]
    assert decoder_layouts([lay], "none") is None and decoder_layouts([lay], "full") == [lay]
    with pytest.raises(ValueError, match="decoder_layout must be one of .* got 'colours'"):
        SamplingParams(decoder_layout="colours").validate()


def test_one_layout_per_image_is_forced_on_each_image_of_the_batch(tiny_model: NativeModel) -> None:
    """generate(layouts=[...]): thinking mode's candidates, each its own composition, drawn as one batch; the
    decoder gets each image's own layout. A count that does not match n, or a shared layout besides, is named."""
    from limner.model.layout import LayoutItem

    seen: list[object] = []

    class Spy(Generator):
        def decode(self, codes, glyph, steps, generator, noise, layouts=None):  # type: ignore[no-untyped-def]
            seen.append(layouts)
            return super().decode(codes, glyph, steps, generator, noise, layouts)

    gen = Spy(tiny_model)
    lays = [[LayoutItem.quantize("star", 0.25, 0.5, 0.2)], [LayoutItem.quantize("heart", 0.75, 0.3, 0.15)]]
    ims = gen.generate("a star", GenerateOptions(n=2, seed=3), layouts=lays)
    assert len(ims) == 2 and seen[-1] == lays
    with pytest.raises(ValueError, match=r"layouts: one per image \(3\), got 2"):
        gen.generate("a star", GenerateOptions(n=3, seed=3), layouts=lays)
    with pytest.raises(ValueError, match="and a shared layout as well"):
        gen.generate("a star", GenerateOptions(n=2, seed=3), layouts=lays, layout=lays[0])
