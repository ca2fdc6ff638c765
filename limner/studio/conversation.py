"""A conversation that keeps its images in context: generate, then refine turn by turn.

    conv = pipe.chat(seed=1)
    conv.send("a red star and a blue ring")         # a new image (planned: thinking mode)
    conv.send("make the star green")                # an edit of the current image; the ring stays exactly
    conv.send("add a yellow heart", mask=m)         # edits can carry a mask (alpha 0 = the area to edit)
    conv.send("the object in this image, but pink", images=["ref.png"])   # references

Each turn is read by the learned instruction reader and routed (routing.py): an edit with an image in context
edits it (every op the turn asks for, "make the star purple and move it left"); uploads with an edit are the
image to edit; "undo" / "go back" returns to the image before the last turn; a turn about nothing drawable
raises NotDrawable with a message to show; anything else is a new prompt (uploads are then references).
The current image is the delivered (watermarked) one, and its plan travels with it, so later edits
phrase the whole scene for the model. `context()` lists the turns as the interleaved text/image segments
of model/sequence.py, the form a conversation-trained prior will read.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch
from PIL import Image

from limner.model.native import NativeModel
from limner.model.sequence import image_grid_pos, size_token
from limner.studio.routing import route_turn


@dataclass
class Turn:
    """One turn as it happened: the message, what it did, what it delivered (images, revised prompts,
    plans, notes) and the images uploaded with it."""

    message: str
    kind: str  # generate | edit | undo
    images: list[Image.Image]
    revised_prompts: list[str]
    plans: list[Any]
    notes: list[str] = field(default_factory=list)
    uploads: list[Image.Image] = field(default_factory=list)


class Conversation:
    """A conversation on a `Pipeline` whose latest image and plan stay in context for the next turn.

    `defaults` are pipeline options for every turn (thinking mode on unless given); `send`'s own keywords
    override them."""

    def __init__(self, pipe: Any, **defaults: Any) -> None:
        self.pipe = pipe
        self.defaults = {"think": True, **defaults}
        self.turns: list[Turn] = []
        self.image: Image.Image | None = None  # the image in context (the latest turn's first image)
        self.plan: Any | None = None
        self.results: list[Any] = []  # the PipelineResult behind each image in context, oldest first (for undo)

    def send(self, message: str, *, images: list[Any] | None = None, mask: Any | None = None, **kw: Any) -> Any:
        """One user turn; returns the PipelineResult. Raises InvalidRequest for an edit with no image."""
        from limner.errors import InvalidRequest
        from limner.studio.reading import load_image

        opts = {**self.defaults, **kw}
        try:
            uploads = [load_image(im, f"uploaded image {i + 1}") for i, im in enumerate(images or [])]
        except ValueError as e:
            raise InvalidRequest(str(e)) from e
        who = {k: opts[k] for k in ("user", "moderation", "age") if k in opts}
        try:
            route = route_turn(message, uploads=len(uploads), in_context=self.image is not None,
                               mask=mask is not None, chat=True)
        except InvalidRequest:  # nothing to edit or undo: a harmful turn is still refused as such first
            self.pipe.screen(message, **who)
            raise
        if route.action in ("undo", "none"):  # no drawing, but safety sees the words first, as for any turn
            self.pipe.screen(message, **who)
        if route.action == "undo":
            return self._undo(message)
        if route.action == "none":
            from limner.studio.routing import not_drawable

            raise not_drawable(message)
        if route.action == "edit":
            base, plan = (uploads[0], None) if route.base == "upload" else (self.image, self.plan)
            eo = {k: v for k, v in opts.items() if k not in ("think", "size")}
            res = self.pipe.edit(base, message, mask=mask, plan=plan, **eo)
            kind = "edit"
        else:
            res = self.pipe(message, references=uploads or None, **opts)
            kind = "generate"
        self._show(res)
        self.results.append(res)
        self.turns.append(Turn(message, kind, [g.image for g in res.images], list(res.revised_prompts),
                               list(res.plans), list(res.notes), uploads))
        return res

    def _show(self, res: Any) -> None:
        first = res.images[0].image
        self.image = first.convert("RGBA") if first.mode == "RGBA" else first.convert("RGB")
        self.plan = res.plans[0] if res.plans else None

    def _undo(self, message: str) -> Any:
        """Go back to the image before the latest one; that earlier result is returned again."""
        from limner.studio.routing import NothingToUndo

        if len(self.results) < 2:
            raise NothingToUndo(f"{message[:200]!r} asks to go back, but this conversation has no earlier image")
        self.results.pop()
        res = self.results[-1]
        self._show(res)
        self.turns.append(Turn(message, "undo", [g.image for g in res.images], list(res.revised_prompts),
                               list(res.plans), ["went back to the previous image"]))
        return res

    def context(self) -> list[tuple[str, Any]]:
        """The conversation as model/sequence.py segments: ("text", str) and ("image", PIL image), in order."""
        segs: list[tuple[str, Any]] = []
        for t in self.turns:
            segs += [("image", u) for u in t.uploads]
            segs.append(("text", t.message))
            segs += [("image", im) for im in t.images[:1]]
        return segs


def context_sequence(model: NativeModel, segments: list[tuple[str, Any]],
                     next_size: tuple[int, int] | None = None) -> tuple[list[int], torch.Tensor]:
    """A conversation as one token stream (model/sequence.py): (token ids, grid positions (T, 2)).

        <bos> text1 <size:WxH> <img> codes1 </img> text2 <size:WxH> <img> codes2 </img> ... [<size> <img>]

    Images are encoded by the model's tokenizer at their closest supported size. With `next_size`, the
    stream ends in `<size> <img>`: the prefix from which a conversation-trained prior draws the next image.
    Today's prior is trained on single turns, so the engine edits through plans and kept codes instead;
    this is the format the conversation training stage (model issue) will feed it."""
    from limner.engine.inpaint import encode_image
    from limner.limits import closest_size
    from limner.model.layout import encode_layout

    text = model.text
    ids: list[int] = [text.id("<bos>")]
    grid: list[torch.Tensor] = [torch.zeros(1, 2, dtype=torch.long)]
    offset = text.vocab_size
    for kind, seg in segments:
        if kind == "text":
            t = text.encode(seg)
            ids += t
            grid.append(torch.zeros(len(t), 2, dtype=torch.long))
            continue
        size = closest_size(*seg.size)
        im = seg if seg.size == size else seg.resize(size, Image.Resampling.LANCZOS)
        codes = encode_image(model, im)[0]  # (rows, cols)
        rows, cols = codes.shape
        # A layout prior's images start with their layout; an image read from pixels has the empty one.
        lay = [model.layout_offset + t for t in encode_layout([])]
        ids += [size_token(text, size), text.id("<img>"), *lay, *(codes.flatten() + offset).tolist(), text.id("</img>")]
        grid += [torch.zeros(2 + len(lay), 2, dtype=torch.long), image_grid_pos(rows, cols),
                 torch.zeros(1, 2, dtype=torch.long)]
    if next_size is not None:
        ids += [size_token(text, next_size), text.id("<img>")]
        grid.append(torch.zeros(2, 2, dtype=torch.long))
    return ids, torch.cat(grid)
