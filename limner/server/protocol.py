"""Request and response models of the OpenAI Images and Responses APIs, as limner supports them.

Requests forbid unknown fields, as OpenAI does ("Unknown parameter"), so a typo is an error, not a silent
default. A `null` for an optional field means its default, as OpenAI's spec marks them nullable. The DALL-E
qualities are mapped to limner's (QUALITY_ALIASES: `standard` draws as `medium`, `hd` as `high`), and DALL-E 3's
`style` is accepted and recorded. `seed` is limner's one extension (the history records it so an image can be
recalled).
"""

from __future__ import annotations

import time
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from limner.limits import MAX_N, MAX_PARTIAL_IMAGES, MAX_PROMPT_CHARS, MAX_SEED, MAX_USER_CHARS, MIN_N

Quality = Literal["low", "medium", "high", "auto", "standard", "hd"]
QUALITY_ALIASES = {"standard": "medium", "hd": "high"}  # DALL-E's qualities as the ones limner draws
Background = Literal["transparent", "opaque", "auto"]
OutputFormat = Literal["png", "jpeg", "webp"]
Moderation = Literal["low", "auto"]


class _Request(BaseModel):
    """A request body: unknown fields refused, a null field read as its default, DALL-E qualities mapped."""

    model_config = ConfigDict(extra="forbid")

    @model_validator(mode="before")
    @classmethod
    def _nulls_are_defaults(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        out = {k: v for k, v in data.items() if v is not None}
        if isinstance(out.get("quality"), str) and out["quality"] in QUALITY_ALIASES:
            out["quality"] = QUALITY_ALIASES[out["quality"]]
        return out


class ImageOptions(_Request):
    """The options `/v1/images/generations`, `/v1/images/edits` and the image_generation tool share."""

    model: str | None = None
    n: int = Field(default=1, ge=MIN_N, le=MAX_N)
    size: str = "auto"
    quality: Quality = "auto"
    background: Background = "auto"
    output_format: OutputFormat = "png"
    output_compression: int | None = Field(default=None, ge=0, le=100)
    moderation: Moderation = "auto"
    user: str | None = Field(default=None, max_length=MAX_USER_CHARS)
    stream: bool = False
    partial_images: int = Field(default=0, ge=0, le=MAX_PARTIAL_IMAGES)
    # gpt-image models return base64 only; "url" (DALL-E's default) gives an expiring signed URL (signed_urls.py)
    response_format: Literal["b64_json", "url"] | None = None
    style: Literal["vivid", "natural"] | None = None  # DALL-E 3's; recorded with the image, not drawn differently
    seed: int | None = Field(default=None, ge=0, le=MAX_SEED)


class ImageGenerationRequest(ImageOptions):
    """The body of `POST /v1/images/generations`: the image options and the prompt."""

    prompt: str = Field(..., min_length=1, max_length=MAX_PROMPT_CHARS)


class ImageData(BaseModel):
    """One image of an Images API answer: its base64 bytes (or, for response_format "url", an expiring signed
    URL) and what the model was asked to draw (revised_prompt)."""

    b64_json: str | None = None
    url: str | None = None
    revised_prompt: str | None = None


class ImagesUsage(BaseModel):
    """The Images API `usage` object: input tokens (text and images), output tokens, total."""

    input_tokens: int
    input_tokens_details: dict[str, int]
    output_tokens: int
    total_tokens: int

    @staticmethod
    def of(usage: dict[str, int], image_tokens: int = 0) -> ImagesUsage:
        """The usage object from the pipeline's token counts, with `image_tokens` of input images added
        to the input."""
        return ImagesUsage(input_tokens=usage["input_tokens"] + image_tokens,
                           input_tokens_details={"text_tokens": usage["input_tokens"], "image_tokens": image_tokens},
                           output_tokens=usage["output_tokens"],
                           total_tokens=usage["total_tokens"] + image_tokens)


class ImagesResponse(BaseModel):
    """The answer of `/v1/images/generations` and `/v1/images/edits`, shaped as OpenAI's."""

    created: int = Field(default_factory=lambda: int(time.time()))
    data: list[ImageData]
    background: Literal["transparent", "opaque"]
    output_format: OutputFormat
    quality: Literal["low", "medium", "high"]
    # OpenAI's spec enumerates three sizes here; any other delivered size (256x256, 1792x1024...) is left out
    # rather than break clients that check the enum: the image's own pixels say it.
    size: Literal["1024x1024", "1024x1536", "1536x1024"] | None = None
    usage: ImagesUsage


# -- Responses -----------------------------------------------------------------------------------------


class ImageGenerationTool(_Request):
    """`{"type": "image_generation", ...}`: the tool's options (unknown keys are refused)."""

    type: Literal["image_generation"]
    model: str | None = None
    size: str = "auto"
    quality: Quality = "auto"
    background: Background = "auto"
    output_format: OutputFormat = "png"
    output_compression: int | None = Field(default=None, ge=0, le=100)
    moderation: Moderation = "auto"
    partial_images: int = Field(default=0, ge=0, le=MAX_PARTIAL_IMAGES)
    input_fidelity: Literal["low", "high"] | None = None
    input_image_mask: dict[str, Any] | None = None
    action: Literal["generate", "edit", "auto"] | None = None


class ResponsesRequest(_Request):
    """The body of `POST /v1/responses`, as OpenAI defines it; sampling fields (temperature, top_p,
    max_output_tokens...) are accepted and echoed back, since limner has no text model to apply them to."""

    model: str
    input: str | list[dict[str, Any]] = Field(...)
    instructions: str | None = Field(default=None, max_length=MAX_PROMPT_CHARS)
    tools: list[dict[str, Any]] = Field(default_factory=list)
    tool_choice: str | dict[str, Any] | None = None
    previous_response_id: str | None = None
    stream: bool = False
    store: bool = True
    user: str | None = Field(default=None, max_length=MAX_USER_CHARS)
    metadata: dict[str, str] | None = None
    parallel_tool_calls: bool | None = None
    temperature: float | None = Field(default=None, ge=0, le=2)
    top_p: float | None = Field(default=None, ge=0, le=1)
    max_output_tokens: int | None = Field(default=None, ge=1)
    seed: int | None = Field(default=None, ge=0, le=MAX_SEED)  # limner extension, as for images
    # Documented fields with nothing for an image-only model to do: accepted, and echoed where the response
    # object has them (reasoning, text, truncation); `background: true` (run detached) is refused.
    include: list[str] | None = None
    reasoning: dict[str, Any] | None = None
    text: dict[str, Any] | None = None
    truncation: Literal["auto", "disabled"] | None = None
    service_tier: str | None = None
    max_tool_calls: int | None = Field(default=None, ge=1)
    top_logprobs: int | None = Field(default=None, ge=0, le=20)
    prompt_cache_key: str | None = Field(default=None, max_length=MAX_USER_CHARS)
    safety_identifier: str | None = Field(default=None, max_length=MAX_USER_CHARS)
    background: bool = False


# -- Files ---------------------------------------------------------------------------------------------


class FileObject(BaseModel):
    """OpenAI's `file` object, as `/v1/files` answers it."""

    id: str
    object: Literal["file"] = "file"
    bytes: int
    created_at: int
    expires_at: int | None = None
    filename: str
    purpose: str
    status: Literal["uploaded", "processed", "error"] = "processed"


class FileList(BaseModel):
    """`GET /v1/files`: a page of file objects with OpenAI's cursor fields."""

    object: Literal["list"] = "list"
    data: list[FileObject]
    first_id: str
    last_id: str
    has_more: bool


class FileDeleted(BaseModel):
    """`DELETE /v1/files/{id}`."""

    id: str
    object: Literal["file"] = "file"
    deleted: bool
