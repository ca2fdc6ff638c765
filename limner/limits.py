"""One table of request limits. The CLI, the API schema, `Pipeline`, the engine and the docs read these
names; nothing else defines a limit on what a user may ask.

Policy-driven limits (the safety policy's image budget) stay in the policy file, where an operator
edits them; these are the product's own.
"""

from __future__ import annotations

import math
import re

# Prompts and instructions: characters after stripping surrounding space (OpenAI documents 32,000 for
# gpt-image-1; the text tokenizer truncates far earlier, but a longer prompt is refused, not cut).
MAX_PROMPT_CHARS = 32_000

# The caller's end-user ID (`user`; the Responses API's `prompt_cache_key` and `safety_identifier`): kept in
# the provenance index and the history for audit. OpenAI's spec gives `user` no maximum, and a refusal of an
# ID at 257 characters was a refusal of a request the spec calls valid (schemathesis found one), so the bound
# is the prompt's: it only keeps a request from filling the index with one field.
MAX_USER_CHARS = MAX_PROMPT_CHARS

# Images per request (`n`), as the Images API allows.
MIN_N, MAX_N = 1, 10

# Candidates per image that the verifier chooses among (best-of-N).
MAX_BEST_OF = 8

# Images one thinking-mode plan may answer with ("three variations").
MAX_PLANNED_IMAGES = 6

# Streamed partial previews per image.
MAX_PARTIAL_IMAGES = 3

# Uploaded images per edit request, and pixels per input image (edits, masks, references), checked from
# the header before decoding: 4000 x 4000. Larger inputs are refused as possible decompression bombs.
MAX_INPUT_IMAGES = 16
MAX_INPUT_PIXELS = 16_000_000

# Pixels the provenance stage will mark (a generated image is far smaller; this bounds a caller's own
# image), and pixels of an image sent to `verify` (about 0.5 GB of working memory for the watermark search).
MAX_MARK_PIXELS = 64_000_000
MAX_VERIFY_PIXELS = 40_000_000

# Files API uploads (`POST /v1/files`): bytes per file (the request body limit applies first), and the
# expiry a client may set (OpenAI's range: one hour to thirty days).
MAX_FILE_BYTES = 50_000_000
MIN_FILE_EXPIRY_S, MAX_FILE_EXPIRY_S = 3600, 2_592_000

# Seeds accepted from users (a signed 32-bit range, as numpy and torch both take).
MAX_SEED = 2**31 - 1

# The sizes the model draws natively, (W, H).
SUPPORTED_SIZES: tuple[tuple[int, int], ...] = ((256, 256), (384, 256), (256, 384))


# Output sizes a request may ask for: any WxH with sides in [MIN_OUTPUT_SIDE, MAX_OUTPUT_SIDE] and at most
# MAX_OUTPUT_PIXELS, which covers every size OpenAI documents for its image models (OPENAI_SIZES). One that is
# not native is drawn at the native size of the nearest aspect (`closest_size`) and resized to it, and the
# result says so (`Pipeline`'s notes and `native_size`).
MIN_OUTPUT_SIDE, MAX_OUTPUT_SIDE = 64, 4096
MAX_OUTPUT_PIXELS = 4096 * 4096
OPENAI_SIZES: tuple[str, ...] = ("256x256", "512x512", "1024x1024", "1536x1024", "1024x1536", "1792x1024",
                                 "1024x1792")


def supported_size_names() -> list[str]:
    """The supported sizes as 'WxH' strings, for error messages and help."""
    return [f"{w}x{h}" for w, h in SUPPORTED_SIZES]


def parse_size(size: str) -> tuple[int, int]:
    """'256x256' -> (256, 256); raises ValueError naming the bad value and the supported sizes."""
    m = re.fullmatch(r"\s*(\d+)\s*[xX×]\s*(\d+)\s*", size)
    if not m:
        raise ValueError(f"bad size {size!r}: expected WxH, one of {supported_size_names()} or 'auto'")
    wh = (int(m.group(1)), int(m.group(2)))
    if wh not in SUPPORTED_SIZES:
        raise ValueError(f"unsupported size {size!r}: supported sizes are {supported_size_names()} or 'auto'")
    return wh


def parse_output_size(size: str) -> tuple[int, int]:
    """'1024x1024' -> (1024, 1024): any WxH within the output limits; ValueError naming the bad value."""
    m = re.fullmatch(r"\s*(\d+)\s*[xX×]\s*(\d+)\s*", size)
    if not m:
        raise ValueError(f"bad size {size!r}: expected WxH (for example {', '.join(OPENAI_SIZES[:3])}) or 'auto'")
    w, h = int(m.group(1)), int(m.group(2))
    if not (MIN_OUTPUT_SIDE <= w <= MAX_OUTPUT_SIDE and MIN_OUTPUT_SIDE <= h <= MAX_OUTPUT_SIDE) \
            or w * h > MAX_OUTPUT_PIXELS:
        raise ValueError(f"unsupported size {size!r}: each side must be within {MIN_OUTPUT_SIDE}..{MAX_OUTPUT_SIDE} "
                         f"pixels (at most {MAX_OUTPUT_PIXELS} in all), or 'auto'")
    return w, h


def native_size(wh: tuple[int, int]) -> tuple[int, int]:
    """The size the model draws for an output of `wh`: itself when native, else the native size of the
    nearest aspect."""
    return wh if wh in SUPPORTED_SIZES else closest_size(*wh)


def closest_size(w: int, h: int) -> tuple[int, int]:
    """The supported size whose aspect ratio is closest to w:h (by log ratio, so 2:1 and 1:2 are as far)."""
    return min(SUPPORTED_SIZES, key=lambda s: abs(math.log((s[0] / s[1]) / (w / h))))


def check_n(n: int) -> None:
    """ValueError unless `n` is an int from MIN_N to MAX_N."""
    if isinstance(n, bool) or not isinstance(n, int) or not MIN_N <= n <= MAX_N:
        raise ValueError(f"n must be between {MIN_N} and {MAX_N}, got {n!r}")


def check_best_of(best_of: int) -> None:
    """ValueError unless `best_of` is an int from 1 to MAX_BEST_OF."""
    if isinstance(best_of, bool) or not isinstance(best_of, int) or not 1 <= best_of <= MAX_BEST_OF:
        raise ValueError(f"best_of must be between 1 and {MAX_BEST_OF}, got {best_of!r}")


def check_prompt(prompt: str) -> str:
    """The prompt stripped of surrounding space; ValueError when it is empty (or not a string) or over
    MAX_PROMPT_CHARS."""
    if not isinstance(prompt, str) or not prompt.strip():
        raise ValueError("prompt is empty")
    if len(prompt) > MAX_PROMPT_CHARS:
        raise ValueError(f"prompt has {len(prompt)} characters; the maximum is {MAX_PROMPT_CHARS}")
    return prompt.strip()
