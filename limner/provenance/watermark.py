"""A keyed, tiled spread-spectrum watermark that survives flat-colour images, re-encoding, resizing and crops.

Why not DWT-DCT (invisible-watermark): it hides bits in mid-band block coefficients, which on the flat
colour fields that limner's model draws are zero and sit at the 0/255 clipping limits, so the bits do
not survive (bench/provenance measures it). This scheme adds a low-amplitude pseudo-random luminance
pattern made of `chip` x `chip` pixel chips, periodic with a `tile` x `tile` pixel tile:

    pattern = sqrt(p) * pilot + sqrt(1 - p) * data,   both +-1 per chip, drawn with a raised-sine window

* `pilot` is a fixed keyed pattern; cross-correlating it with the folded image finds the tile phase after
  a crop (synchronisation), and its correlation peak is the detection statistic.
* `data` spreads the 156 coded bits (48-bit payload + CRC-24, rate-1/2 convolutional code; see ecc.py)
  over the chips of every tile, each chip multiplied by a keyed +-1 sequence.
* 5 px chips keep the energy below a quarter of the sampling rate (halving the size keeps it) and in the
  lowest JPEG DCT coefficients (q75 keeps them). The amplitude is set per image so that the PSNR hits
  `psnr_db` after clipping: on a white field only the darker half of the pattern is possible, which the
  amplitude search accounts for; pixels that brightening would clip to white get relatively less.
* Headroom dips: brightening by 10% turns every channel value >= 232 white, and with it any pattern of a
  few grey levels, so on the mostly-white renders the smooth pattern alone lost 15% of the bits. Half of
  the distortion budget therefore goes to sparse, keyed single-pixel dips of 32 levels on the blue channel
  of such pixels, placed with a probability that follows the negative half of the pattern; they stay
  below the clipping point and read like the pattern itself. Blue carries ~11% of luminance, so a dip
  changes brightness by ~3.5 levels. `detect` reads the channel mean and then the blue channel alone.

Extraction subtracts an edge-preserving (bilateral) estimate of the host from the luminance (flat colour
-> ~0 residual, so the host barely interferes), high-passes and clips the residual, folds it modulo the
tile, finds the phase by FFT cross-correlation with the pilot, then despreads and Viterbi-decodes the
payload at the best peaks. A payload is reported only when its CRC-24 checks.

Parameters were chosen by measurement (bench/provenance): chip 4 vs 5 vs 6, median vs bilateral host
estimate, pilot share, boost and PSNR target.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from limner.provenance.ecc import CODED_BITS, decode_payload, encode_payload


@dataclass(frozen=True)
class WatermarkConfig:
    """Watermark geometry, strength and detector settings; marks are only read with the config that
    made them. The defaults are the values chosen by measurement (bench/provenance)."""

    chip: int = 5  # pixels per chip side
    grid: int = 14  # chips per tile side: tile = chip * grid pixels
    pilot_power: float = 0.22  # share of the pattern's power spent on synchronisation
    psnr_db: float = 38.6  # embedding strength target; the requirement is >= 38 dB (measured >= 38.5)
    highpass_sigma: float = 3.0  # Gaussian sigma (pixels) removed from the image before folding
    residual_clip: float = 8.0  # grey levels; bounds the influence of edges and textures
    peaks: int = 3  # pilot peaks to try decoding at
    min_pilot_z: float = 4.0  # a decode is only attempted where the pilot stands out at least this much
    # Host estimate subtracted before folding. "bilateral" averages only neighbours within ~range_sigma grey
    # levels, so flat regions (even small shapes and text strokes) are predicted without blurring edges into
    # the residual; "median" (window filter_size, much wider than a chip) was the runner-up in the bench.
    predictor: str = "bilateral"
    filter_size: int = 7
    range_sigma: float = 20.0
    bright_level: float = 232.0  # luminance above which brightening by 10% clips a pixel to white
    boost: float = 2.0  # relative amplitude on pixels below bright_level, which survive brightening
    edge_threshold: float = 0.0  # local gradient (grey levels) above which a pixel is ignored; 0 = off
    edge_source: str = "image"  # gradient of the median host estimate, or of the "image" itself
    # Headroom dips (see _headroom_dots). Measured on 220 renders (bench/provenance), bit accuracy after
    # brightening by 10%: off 0.85; depth 32 / share 0.5: 0.996; 28 / 0.5: 0.988; 36 / 0.45: 0.971 (fewer
    # dips); 32 / 0.6: 0.998 but JPEG q75 fell to 0.996 from 0.998 (less budget for the smooth pattern).
    dot_depth: float = 32.0  # grey levels of the sparse dips on clip-prone channels; 0 = off
    dot_share: float = 0.5  # share of the distortion budget spent on those dips
    dot_channels: tuple[int, ...] = (2,)  # channels that carry the dips (blue: least visible)

    @property
    def tile(self) -> int:
        """The pattern's period in pixels (`chip * grid`)."""
        return self.chip * self.grid


@dataclass
class Detection:
    """What `detect` found: `found` and `payload` only when the CRC checked; `guess`, `confidence` and
    `pilot_z` describe the best attempt either way."""

    found: bool
    payload: int | None
    guess: int | None  # best-guess payload bits even when the CRC fails (for bit-accuracy figures)
    confidence: float  # agreement of the soft bits with the decoded codeword, in [0, 1]
    pilot_z: float  # pilot correlation peak in standard deviations of all shifts
    shift: tuple[int, int]  # tile phase (dy, dx) at which it was read


@dataclass(frozen=True)
class _KeyPatterns:
    pilot: np.ndarray  # (grid, grid) +-1
    spread: np.ndarray  # (grid, grid) +-1 keyed chip signs for the data
    bit_of_chip: np.ndarray  # (grid, grid) int, which coded bit each chip carries
    window: np.ndarray  # (chip, chip) raised-sine chip shape, unit RMS


@lru_cache(maxsize=8)
def _dither(key: bytes, tile: int) -> np.ndarray:
    """(tile, tile) keyed uniform [0, 1) thresholds that decide where the headroom dips go."""
    seed = int.from_bytes(hashlib.sha256(b"limner-watermark-dots\0" + key).digest()[:8], "big")
    return np.random.default_rng(seed).random((tile, tile), dtype=np.float32)


def _thresholds(key: bytes, tile: int, h: int, w: int) -> np.ndarray:
    """(H, W) dither thresholds: the keyed tile map, shifted by a golden-ratio step per tile.

    Detection averages all tiles, so what counts is how many dips each chip gets summed over the tiles.
    Plain tiling would put them at the same few positions in every tile (most chips none at all); the
    low-discrepancy shift makes every chip's count close to its expected value.
    """
    ny, nx = -(-h // tile), -(-w // tile)
    k = np.arange(ny * nx, dtype=np.float32).reshape(ny, nx) * np.float32(0.6180339887)
    shift = np.kron(k - np.floor(k), np.ones((tile, tile), np.float32))
    u = np.tile(_dither(key, tile), (ny, nx)) + shift
    return (u - np.floor(u))[:h, :w]


@lru_cache(maxsize=8)
def _patterns(key: bytes, grid: int, chip: int) -> _KeyPatterns:
    seed = int.from_bytes(hashlib.sha256(b"limner-watermark\0" + key).digest()[:8], "big")
    rng = np.random.default_rng(seed)
    n = grid * grid
    pilot = rng.choice([-1.0, 1.0], size=(grid, grid))
    spread = rng.choice([-1.0, 1.0], size=(grid, grid))
    # every coded bit gets floor/ceil(n / CODED_BITS) chips, scattered over the tile
    bit_of_chip = (rng.permutation(n) % CODED_BITS).reshape(grid, grid)
    s = np.sin(np.pi * (np.arange(chip) + 0.5) / chip)
    window = np.outer(s, s)
    window /= np.sqrt((window**2).mean())
    return _KeyPatterns(pilot, spread, bit_of_chip, window)


def _chips_to_pixels(chips: np.ndarray, window: np.ndarray) -> np.ndarray:
    """(grid, grid) chip values -> (tile, tile) pixels, each chip drawn with the window shape."""
    return np.kron(chips, window)


def tile_pattern(key: bytes, payload: int, cfg: WatermarkConfig) -> np.ndarray:
    """The (tile, tile) float pattern with unit RMS that carries `payload`."""
    kp = _patterns(key, cfg.grid, cfg.chip)
    coded = encode_payload(payload).astype(np.float64) * 2.0 - 1.0
    data = coded[kp.bit_of_chip] * kp.spread
    chips = np.sqrt(cfg.pilot_power) * kp.pilot + np.sqrt(1.0 - cfg.pilot_power) * data
    pix = _chips_to_pixels(chips, kp.window)
    return pix / np.sqrt((pix**2).mean())


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    """PSNR in dB between two 8-bit images of the same shape; inf when they are identical."""
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return float("inf") if mse == 0 else 10.0 * np.log10(255.0**2 / mse)


def _render(img: np.ndarray, w: np.ndarray, s: float, dots: np.ndarray | None) -> np.ndarray:
    """float32 RGB + s * pattern, rounded and clipped; `dots` (channel-wise ceilings) applied last."""
    out = np.clip(np.rint(img + np.float32(s) * w[..., None]), 0, 255)
    if dots is not None:
        np.minimum(out, dots, out=out)
    return out


def _mse_at(rgb: np.ndarray, w: np.ndarray, s: float, dots: np.ndarray | None = None) -> float:
    out = _render(rgb, w, s, dots)
    return float(np.mean(np.square(out - rgb)))


def _headroom_dots(rgb: np.ndarray, key: bytes, full: np.ndarray, cfg: WatermarkConfig, target: float,
                   visible: np.ndarray | None, allowed: np.ndarray | None) -> np.ndarray | None:
    """Channel-wise ceilings (H, W, 3) float32 that put sparse deep dips where brightening would clip.

    A channel at or above `bright_level` turns white when the image is brightened by 10%, and any pattern
    of a few grey levels on it goes with it. Where the pattern is negative we instead sink a few keyed
    pixels by `dot_depth` (deep enough to stay below the clipping point), with a probability proportional
    to the pattern, so the dips correlate with the pattern like the pattern itself. They cost `dot_share`
    of the distortion budget and go on the blue channel, to which the eye is least sensitive.
    """
    h, w = rgb.shape[:2]
    chan = np.zeros(3, dtype=bool)
    chan[list(cfg.dot_channels)] = True
    bright = (rgb >= cfg.bright_level) & chan  # (H, W, 3)
    if visible is not None:
        bright &= visible[..., None]
    if allowed is not None:
        bright &= allowed[..., None]
    n_bright = int(bright.sum())
    if n_bright == 0:
        return None
    neg = np.maximum(-full, 0.0)  # (H, W)
    u = _thresholds(key, cfg.tile, h, w)
    n_pix = h * w if visible is None else int(visible.sum())
    # dips wanted so that they cost dot_share of the MSE budget: n * depth^2 / (3 * n_pix)
    want = cfg.dot_share * target * 3 * n_pix / cfg.dot_depth**2
    mass = float((neg[..., None] * bright).sum())
    if mass <= 0:
        return None
    gain = want / mass  # P(dip) = gain * relu(-pattern): expected count = want (while gain * max <= 1)
    sel = (neg * np.float32(gain)) > u
    mask = bright & sel[..., None]
    if not mask.any():
        return None
    dots = np.full(rgb.shape, 255.0, dtype=np.float32)
    dots[mask] = rgb[mask].astype(np.float32) - np.float32(cfg.dot_depth)
    return dots


def _visible_mse(out: np.ndarray, img: np.ndarray, visible: np.ndarray | None) -> float:
    d = np.square(out - img)
    return float(d.mean() if visible is None else d[visible].mean())


def embed(rgb: np.ndarray, key: bytes, payload: int, cfg: WatermarkConfig | None = None,
          visible: np.ndarray | None = None) -> np.ndarray:
    """uint8 RGB (H, W, 3) -> watermarked uint8 RGB of the same shape, PSNR close to cfg.psnr_db."""
    return embed_measured(rgb, key, payload, cfg, visible)[0]


def embed_measured(rgb: np.ndarray, key: bytes, payload: int, cfg: WatermarkConfig | None = None,
                   visible: np.ndarray | None = None,
                   dots_allowed: np.ndarray | None = None) -> tuple[np.ndarray, float]:
    """`embed`, also returning the PSNR (dB) it reached over the visible pixels.

    `visible` (H, W) bool: the PSNR is measured over those pixels only (the RGB under fully transparent
    pixels is never seen, so it is marked at the same strength for free). `dots_allowed` (H, W) bool:
    where the headroom dips may go (see `_headroom_dots`); everywhere when None.
    """
    cfg = cfg or WatermarkConfig()
    if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.dtype != np.uint8:
        raise ValueError(f"expected a uint8 (H, W, 3) array, got {rgb.dtype} {rgb.shape}")
    h, w = rgb.shape[:2]
    for name, mask in (("visible", visible), ("dots_allowed", dots_allowed)):
        if mask is not None and mask.shape != (h, w):
            raise ValueError(f"{name} mask shape {mask.shape} does not match the image {(h, w)}")
    if visible is not None and (not visible.any() or visible.all()):
        visible = None
    t = tile_pattern(key, payload, cfg).astype(np.float32)
    full = np.tile(t, (-(-h // cfg.tile), -(-w // cfg.tile)))[:h, :w]
    img = rgb.astype(np.float32)
    if cfg.boost != 1.0:
        # pixels that brightening would clip to white get less, the rest more (same PSNR overall)
        lum = _channel_sum(rgb)
        full = full * np.where(lum < 3 * cfg.bright_level, np.float32(cfg.boost), np.float32(1.0))
    target = 255.0**2 / 10 ** (cfg.psnr_db / 10.0)
    dots = _headroom_dots(rgb, key, full, cfg, target, visible, dots_allowed) if cfg.dot_depth > 0 else None
    # amplitude search on a strided subset (~16k pixels, cheap on 1024^2), then one exact check
    step = max(1, int(np.sqrt(h * w / 16384)))
    sub_img, sub_w = img[::step, ::step], full[::step, ::step]
    sub_d = None if dots is None else dots[::step, ::step]
    if visible is not None:  # the distortion that counts is the visible one
        sub_img, sub_w = img[visible][::step * step, None, :], full[visible][::step * step, None]
        sub_d = None if dots is None else dots[visible][::step * step, None, :]
    lo, hi = 0.0, 16.0
    for _ in range(11):
        mid = 0.5 * (lo + hi)
        if _mse_at(sub_img, sub_w, mid, sub_d) > target:
            hi = mid
        else:
            lo = mid
    s = lo
    out = _render(img, full, s, dots)
    mse = _visible_mse(out, img, visible)
    while s > 0.25 and mse > target * 1.02:
        s *= float(np.sqrt(target / mse)) * 0.99
        out = _render(img, full, s, dots)
        mse = _visible_mse(out, img, visible)
    return out.astype(np.uint8), (float("inf") if mse == 0 else 10.0 * float(np.log10(255.0**2 / mse)))


def _residual(y: np.ndarray, cfg: WatermarkConfig) -> np.ndarray:
    """Luminance minus an estimate of the host image: what is left is mostly watermark (and edges/texture)."""
    import cv2  # lazy: opencv is a heavy import

    y8 = np.clip(np.rint(y), 0, 255).astype(np.uint8)
    if cfg.predictor == "median":
        host8 = cv2.medianBlur(y8, cfg.filter_size)
        res = y - host8.astype(np.float32)
    elif cfg.predictor == "bilateral":
        host8 = y8
        res = y - cv2.bilateralFilter(y, cfg.filter_size, cfg.range_sigma, cfg.filter_size / 2.0)
    else:
        host8, res = y8, y
    k = int(2 * round(3 * cfg.highpass_sigma) + 1)
    res = res - cv2.GaussianBlur(res, (k, k), cfg.highpass_sigma, borderType=cv2.BORDER_REFLECT)
    if cfg.edge_threshold > 0:
        # edges and text strokes of the host leave residuals far larger than the mark: drop those pixels
        kernel = np.ones((3, 3), np.uint8)
        grad = cv2.morphologyEx(host8 if cfg.edge_source == "host" else y8, cv2.MORPH_GRADIENT, kernel)
        edges = cv2.dilate((grad > cfg.edge_threshold).astype(np.uint8), kernel)
        res[edges > 0] = 0.0
    return res


def _fold(res: np.ndarray, tile: int) -> np.ndarray:
    """Average the residual (H, W) over all tiles -> (tile, tile); partial tiles count where they exist."""
    h, w = res.shape
    ph, pw = -(-h // tile) * tile, -(-w // tile) * tile
    padded = np.zeros((ph, pw), dtype=np.float32)
    padded[:h, :w] = res
    count = np.zeros((ph, pw), dtype=np.float32)
    count[:h, :w] = 1.0
    acc = padded.reshape(ph // tile, tile, pw // tile, tile).sum(axis=(0, 2), dtype=np.float64)
    cnt = count.reshape(ph // tile, tile, pw // tile, tile).sum(axis=(0, 2), dtype=np.float64)
    return np.where(cnt > 0, acc / np.maximum(cnt, 1.0), 0.0)


def _cyc(d: int, n: int) -> int:
    d %= n
    return min(d, n - d)


def _top_peaks(corr: np.ndarray, k: int) -> list[tuple[int, int]]:
    """The k highest cyclic shifts, at least 2 pixels apart from each other."""
    order = np.argsort(corr, axis=None)[::-1]
    n = corr.shape[0]
    picked: list[tuple[int, int]] = []
    for idx in order[: 64 * k]:
        dy, dx = divmod(int(idx), n)
        if all(_cyc(dy - py, n) + _cyc(dx - px, n) > 2 for py, px in picked):
            picked.append((dy, dx))
            if len(picked) == k:
                break
    return picked


def _channel_sum(rgb: np.ndarray) -> np.ndarray:
    """(H, W, 3) uint8 -> (H, W) float32 sum; per-channel adds are ~5x faster than .sum(axis=2)."""
    out = rgb[..., 0].astype(np.float32)
    out += rgb[..., 1]
    out += rgb[..., 2]
    return out


def luminance(rgb: np.ndarray) -> np.ndarray:
    """(H, W, 3) uint8 -> (H, W) float32; the mean of the channels, matching how the pattern was added."""
    return _channel_sum(rgb) * np.float32(1.0 / 3.0)


def detect(rgb: np.ndarray, key: bytes, cfg: WatermarkConfig | None = None) -> Detection:
    """Look for a watermark made with `key` in a uint8 RGB (H, W, 3) image of any size >= one chip.

    The mean of the channels is read first; when that yields no payload, each of `cfg.dot_channels` alone
    (where the headroom dips are, which is all that is left of the mark on a white field brightened into
    clipping; in the mean they are diluted by the other channels' edges and noise).
    """
    cfg = cfg or WatermarkConfig()
    if rgb.ndim != 3 or rgb.shape[2] != 3:
        raise ValueError(f"expected an (H, W, 3) array, got shape {rgb.shape}")
    best = _detect_plane(luminance(rgb), key, cfg)
    if best.found or cfg.dot_depth <= 0:
        return best
    for c in cfg.dot_channels:
        det = _detect_plane(rgb[..., c].astype(np.float32), key, cfg)
        if det.found:
            return det
        if det.pilot_z > best.pilot_z:
            best = det
    return best


def _detect_plane(y: np.ndarray, key: bytes, cfg: WatermarkConfig) -> Detection:
    """`detect` on one float32 (H, W) plane: the channel mean, or a single channel."""
    kp = _patterns(key, cfg.grid, cfg.chip)
    res = _residual(y, cfg)
    np.clip(res, -cfg.residual_clip, cfg.residual_clip, out=res)
    acc = _fold(res, cfg.tile).astype(np.float64)  # (tile, tile)
    pilot_pix = _chips_to_pixels(kp.pilot, kp.window)
    # corr[d] = sum_x acc[x + d] * pilot[x]: the tile phase of the pattern within the (cropped) image
    corr = np.fft.ifft2(np.fft.fft2(acc) * np.conj(np.fft.fft2(pilot_pix))).real
    mu, sd = float(corr.mean()), float(corr.std()) or 1.0
    best = Detection(False, None, None, 0.0, 0.0, (0, 0))
    for dy, dx in _top_peaks(corr, cfg.peaks):
        z = (float(corr[dy, dx]) - mu) / sd
        if z < cfg.min_pilot_z:
            break
        aligned = np.roll(acc, (-dy, -dx), axis=(0, 1))
        g, c = cfg.grid, cfg.chip
        # matched filter per chip: (grid, chip, grid, chip) * window summed over the chip pixels
        chips = (aligned.reshape(g, c, g, c) * kp.window[None, :, None, :]).sum(axis=(1, 3))
        a = float((chips * kp.pilot).sum() / kp.pilot.size)
        chips = (chips - a * kp.pilot) * kp.spread  # remove the pilot, undo the keyed signs
        soft = np.bincount(kp.bit_of_chip.ravel(), weights=chips.ravel(), minlength=CODED_BITS)
        payload, guess, agree = decode_payload(soft)
        if payload is not None:
            return Detection(True, payload, guess, agree, z, (dy, dx))
        if z > best.pilot_z:
            best = Detection(False, None, guess, agree, z, (dy, dx))
    if best.pilot_z == 0.0:
        z0 = (float(corr.max()) - mu) / sd
        best = Detection(False, None, None, 0.0, z0, (0, 0))
    return best
