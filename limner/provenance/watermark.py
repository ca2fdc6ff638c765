"""A keyed, tiled spread-spectrum watermark shaped by what the eye cannot see.

The mark is a pseudo-random luminance pattern of `chip` x `chip` pixel chips, periodic with a
`tile` x `tile` pixel tile, each chip +-1 with a flat-topped window (sin^window_power per axis):

* `pilot_share` of the chips form a fixed keyed pilot; cross-correlating it with the folded image finds
  the tile phase after a crop (synchronisation), and its correlation peak is the detection statistic;
* the other chips carry the 156 coded bits (48-bit payload + CRC-24, rate-1/2 convolutional code; ecc.py),
  each chip multiplied by a keyed +-1 sign.

Pilot and data chips are apart (time division) rather than superposed, so every chip has the same
magnitude: a pattern with a low crest factor puts the most energy under a hard cap on the deviation.

**Perceptual shaping (why it looks like nothing).** limner draws flat-colour images (icons, signs,
diagrams), where a mark shows most. The amplitude is set per pixel from the original image
(`amplitude_map`):

* flat pixels (5x5 neighbourhood constant) get at most `flat_level` grey levels, so no flat pixel moves
  by more than 2 levels after rounding; on white only the darker half of the pattern is possible;
* elsewhere contrast masking allows more: `flat_level + masking_slope * local range`, up to
  `masked_level` (the slope is Chou & Li's spatial-masking slope, 0.115 per grey level of contrast). The
  cap is 4 levels: a larger change in texture is taken for texture by the detector's edge-preserving host
  estimate and lost (at 16 levels only ~7% of a photo's mark reached the detector);
* all channels move together (a grey change): the older mark's blue-only dips read as yellow dots;
* the masked pixels get what is left of the distortion budget (`psnr_db`) once the flat pixels are
  paid for; when the flat pixels alone exceed it (a coloured field), everything is scaled down.

**What that costs, and the pixel layer that pays it.** Brightening by 10% turns every channel value >= 232
white, and with it any mark of a few grey levels on white. A mark on a mostly white image therefore survives
brightening only through the pixels that are not white; when they are a few % of the image (a small icon on
white), they cover too few of the chips of the tile, so most coded bits would be lost with the chips
the white erased. So on an image where fewer than `pixel_when_below` of the pixels would survive (some
channel <= `survive_level`), those pixels also carry a second, *pixel layer*: every pixel position of the
tile carries one coded bit (keyed positions and signs), so even an icon a few dozen pixels across holds
every coded bit several times over. It takes `pixel_share` of those pixels' amplitude (same caps, same
budget: the flat-area limits and the PSNR do not move); white and the rest of the image keep the chips. The
detector decodes the chips, then the pixel layer, then both together, and besides the pilot's peaks it also
tries the uncropped phase, since an icon's brightened pilot can be too weak to find it. A brightened and
also cropped small icon is still lost (`verify` then finds the image by its perceptual hash in the index).

Extraction subtracts an estimate of the host from the luminance, clips the residual, folds it modulo the
tile, finds the phase by FFT cross-correlation with the pilot, then despreads and Viterbi-decodes the payload
at the best peaks (a list decoder tries the next most likely paths when the best fails its CRC; ecc.py). A
payload is reported only when its CRC-24 checks. Three host estimates are tried in turn (`host_filter`):

* "bilateral": an edge-preserving (bilateral) filter, high-passed. Flat colour leaves ~0 residual and
  edges stay out of it, which is what flat renders need; but in dense texture (grass, gravel) every
  neighbour differs by more than the range sigma, so the filter keeps the pixel, mark and all, and the
  mark never reaches the residual;
* "box": the pixel minus its 3x3 mean, each residual pixel weighted by f^2 / (f^2 + its local residual
  variance) (`weight_floor`, `weight_window`): the detector's noise is mostly the host's own texture, so
  busy neighbourhoods count for less (inverse-variance weighting). On the development textures this reads
  the mark at about twice the signal-to-noise ratio of the bilateral residual;
* "box5": the same about a 5x5 mean. A half-size round trip low-passes the 2-pixel chips, and the 3x3
  residual keeps too little of what is left on some photos (tried third, it reads 2 of the 125 development
  crops that the first two lose after a half-size round trip; alone it reads fewer than the 3x3 one).

Each is decoded on its own and the CRC says which read it, so trying all three costs only the false-match
rate (3 x the list's, still ~1e-5 per image).

**Photos (informed embedding, `informed`).** On a photograph the host's own texture leaves about as much
in the residual as the mark, so a bit the host happens to work against can flip. The embedder reads the
unmarked image the way the "box" detector will after a JPEG q75 round trip (the commonest loss), and
scales each coded bit's chips so that every bit ends with about the same margin: more of the budget for
bits the host works against, less for bits it already helps. Small chips (2 pixels, 1,360 data chips per
80-pixel tile, ~9 per coded bit) average the host out further. Rounding is dithered (a fixed pattern
whose period is coprime with the tile) so that the budget search can spend the whole budget.

**Where the budget goes (fill shaping, `shape_floor`).** The PSNR budget, not the eye, binds on a photo:
4 levels in texture are invisible, but the budget allows ~1.4 levels rms. The "box" detector weighs a
pixel by f^2 / (f^2 + v), v the local variance of its residual, so the mark the caps pour into dense
texture is mostly weighed away, and with it the budget. Textured pixels therefore fill in proportion to
that same weight (`fill_shape`, read from the unmarked host), and the budget search raises the gain
until the budget is spent: smooth, low-noise pixels rise to their caps, busy ones take less. Flat pixels
and their 2-level cap are untouched, and so are the pixel layer's icons. On 125 development photo and
texture crops (seeds 103-105) bit accuracy went up after every attack (as is 0.969 -> 0.986, JPEG q75
0.958 -> 0.966, half size 0.898 -> 0.914, crop 0.943 -> 0.958, brightened 0.967 -> 0.985, with "box5"), at
the same PSNR; SSIM fell from 0.990 to 0.986.

Parameters were chosen on development renders (bench/provenance/tune.py, seed 101) that the bench's report
(seed 0) does not use, and on crops of development photos and made textures that the report never uses
(`--photos`; bench/provenance/dev_textures.py).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from limner.provenance.ecc import CODED_BITS, decode_payload, encode_payload

HOSTS = ("bilateral", "box", "box5")  # the host estimates `_residual` knows


@dataclass(frozen=True)
class WatermarkConfig:
    """Watermark geometry, strength and detector settings; marks are only read with the config that
    made them. The defaults were chosen on the development renders (bench/provenance/tune.py)."""

    chip: int = 2  # pixels per chip side (small chips: many chips per bit average the host texture out)
    grid: int = 40  # chips per tile side: tile = chip * grid pixels
    pilot_share: float = 0.15  # share of the chips that carry the pilot instead of data
    window_power: float = 0.25  # chip shape sin^p per axis: 1 = raised sine, 0 = square (flatter = more energy)
    flat_level: float = 2.49  # max deviation before rounding on flat pixels: rounds to <= 2 grey levels
    masking_slope: float = 0.115  # extra grey levels per grey level of local contrast (5x5 range)
    masked_level: float = 4.0  # cap on the deviation of textured / edge pixels (more is lost in the host estimate)
    psnr_db: float = 45.0  # distortion budget (JPEG q75 reads fall off a cliff above ~45.2 on white renders)
    highpass_sigma: float = 3.0  # Gaussian sigma (pixels) removed from the residual before folding
    residual_clip: float = 8.0  # grey levels; bounds the influence of edges and textures
    filter_size: int = 5  # bilateral host estimate: neighbourhood (pixels)
    range_sigma: float = 4.0  # ... and grey-level range: edges and most of the mark stay out of the estimate
    host_filter: str = "bilateral+box+box5"  # host estimates the detector tries in turn (see _residual)
    weight_floor: float = 2.0  # f: "box" weights a residual pixel by f^2 / (f^2 + local residual variance); 0 = off
    weight_window: int = 7  # pixels over which that local variance is measured
    peaks: int = 3  # pilot peaks to try decoding at
    min_pilot_z: float = 4.0  # a decode is only attempted where the pilot stands out at least this much
    # The pixel layer (see "What that costs"): on images where few pixels survive brightening, those pixels
    # also carry the coded bits at one pixel per position (pixel_share of their amplitude). 0 turns it off.
    pixel_share: float = 0.7
    survive_level: int = 225  # a pixel with a channel <= this keeps that channel, and the mark, when brightened 10%
    pixel_when_below: float = 0.15  # the layer is used when fewer than this share of pixels survive
    informed: float = 0.5  # share of the host's reading of each coded bit the embedder works against; 0 = off
    informed_max: float = 3.0  # cap on one coded bit's gain (before the gains are normalised to rms 1)
    # Fill shaping (photos; see "Where the budget goes"): a textured pixel's share of the fill is
    # f^2 / (f^2 + v), v the host's own "box" residual variance around it; 0 = off (fill by the caps alone)
    shape_floor: float = 4.0

    @property
    def hosts(self) -> list[str]:
        """The host estimates the detector tries, in order (`host_filter` split at '+')."""
        return self.host_filter.split("+")

    @property
    def tile(self) -> int:
        """The pattern's period in pixels (`chip * grid`)."""
        return self.chip * self.grid

    def __post_init__(self) -> None:
        if self.masked_level < self.flat_level:
            raise ValueError(f"masked_level {self.masked_level} is below flat_level {self.flat_level}: textured "
                             "pixels would get less than flat ones")
        data_chips = self.grid * self.grid - round(self.pilot_share * self.grid * self.grid)
        unknown = set(self.hosts) - set(HOSTS)
        if unknown:
            raise ValueError(f"host_filter {self.host_filter!r} names {sorted(unknown)}: use any of "
                             f"{', '.join(HOSTS)}, joined by '+'")
        if data_chips < CODED_BITS:
            raise ValueError(f"grid {self.grid} with pilot_share {self.pilot_share} leaves {data_chips} data "
                             f"chips, fewer than the {CODED_BITS} coded bits")


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
    pilot: np.ndarray  # (grid, grid) +-1 on pilot chips, 0 on data chips
    spread: np.ndarray  # (grid, grid) +-1 keyed signs of the data chips
    bit_of_chip: np.ndarray  # (grid, grid) int, the coded bit a data chip carries; -1 on pilot chips
    window: np.ndarray  # (chip, chip) chip shape, peak 1
    bit_of_pixel: np.ndarray  # (tile, tile) int, the coded bit each pixel position of the pixel layer carries
    pixel_sign: np.ndarray  # (tile, tile) +-1 keyed signs of the pixel layer


@lru_cache(maxsize=8)
def _patterns(key: bytes, cfg: WatermarkConfig) -> _KeyPatterns:
    seed = int.from_bytes(hashlib.sha256(b"limner-watermark-v2\0" + key).digest()[:8], "big")
    rng = np.random.default_rng(seed)
    n = cfg.grid * cfg.grid
    order = rng.permutation(n)
    n_pilot = round(cfg.pilot_share * n)
    is_pilot = np.zeros(n, dtype=bool)
    is_pilot[order[:n_pilot]] = True
    pilot = rng.choice([-1.0, 1.0], size=n) * is_pilot
    spread = rng.choice([-1.0, 1.0], size=n)
    # every coded bit gets floor/ceil(data chips / CODED_BITS) chips, scattered over the tile
    bit_of_chip = np.full(n, -1)
    data = order[n_pilot:]
    bit_of_chip[data] = rng.permutation(len(data)) % CODED_BITS
    s = np.sin(np.pi * (np.arange(cfg.chip) + 0.5) / cfg.chip) ** cfg.window_power
    window = np.outer(s, s)
    window /= window.max()
    g, t = cfg.grid, cfg.tile
    bit_of_pixel = (rng.permutation(t * t) % CODED_BITS).reshape(t, t)
    pixel_sign = rng.choice([-1.0, 1.0], size=(t, t))
    return _KeyPatterns(pilot.reshape(g, g), spread.reshape(g, g), bit_of_chip.reshape(g, g), window,
                        bit_of_pixel, pixel_sign)


def tile_pattern(key: bytes, payload: int, cfg: WatermarkConfig, gains: np.ndarray | None = None) -> np.ndarray:
    """The (tile, tile) float pattern that carries `payload`; in [-1, 1] unless `gains` (CODED_BITS,) scale
    the data chips of each coded bit (informed embedding)."""
    kp = _patterns(key, cfg)
    coded = encode_payload(payload).astype(np.float64) * 2.0 - 1.0
    if gains is not None:
        coded = coded * gains
    data = coded[np.maximum(kp.bit_of_chip, 0)] * kp.spread
    chips = np.where(kp.bit_of_chip < 0, kp.pilot, data)
    return np.kron(chips, kp.window)


def pixel_tile(key: bytes, payload: int, cfg: WatermarkConfig) -> np.ndarray:
    """The (tile, tile) +-1 pattern of the pixel layer that carries `payload`."""
    kp = _patterns(key, cfg)
    coded = encode_payload(payload).astype(np.float64) * 2.0 - 1.0
    return coded[kp.bit_of_pixel] * kp.pixel_sign


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    """PSNR in dB between two 8-bit images of the same shape; inf when they are identical."""
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return float("inf") if mse == 0 else 10.0 * np.log10(255.0**2 / mse)


def local_range(rgb: np.ndarray) -> np.ndarray:
    """(H, W, 3) uint8 -> (H, W) float32: the largest channel range over each pixel's 5x5 neighbourhood.
    0 marks a flat pixel (the neighbourhood is one colour)."""
    import cv2  # lazy: opencv is a heavy import

    k = np.ones((5, 5), np.uint8)
    d = cv2.dilate(rgb, k) - cv2.erode(rgb, k)  # (H, W, 3) uint8
    # per-channel maxima: numpy's reduce over a last axis of 3 is ~10x slower at 1024^2
    return np.maximum(np.maximum(d[..., 0], d[..., 1]), d[..., 2]).astype(np.float32)


def amplitude_map(rgb: np.ndarray, cfg: WatermarkConfig) -> tuple[np.ndarray, np.ndarray]:
    """Per-pixel amplitude (H, W) float32 in grey levels, and the (H, W) bool flat mask it was built on."""
    rng = local_range(rgb)
    flat = rng == 0
    amp = np.minimum(np.float32(cfg.flat_level) + np.float32(cfg.masking_slope) * rng, np.float32(cfg.masked_level))
    return amp, flat


@lru_cache(maxsize=1)
def _dither_tile() -> np.ndarray:
    """(97, 89) float32 uniform in (-0.5, 0.5): a fixed rounding dither. Its period is coprime with any tile
    below 89 pixels, so folding averages it out instead of adding a fixed pattern to every tile."""
    return (np.random.default_rng(0x11A7).random((97, 89)) - 0.5).astype(np.float32) * np.float32(0.999)


def _dither(h: int, w: int) -> np.ndarray:
    """(H, W) rounding dither: the mark's mean change then grows smoothly with its gain, so the budget
    search can spend the whole budget instead of stopping below a step where many pixels round up at once."""
    t = _dither_tile()
    return np.tile(t, (-(-h // t.shape[0]), -(-w // t.shape[1])))[:h, :w]


def _render(img: np.ndarray, delta: np.ndarray) -> np.ndarray:
    """float32 RGB (.., 3) + the grey `delta` (..) rounded first (so every channel moves alike), clipped."""
    return np.clip(img + np.rint(delta)[..., None], 0, 255)


def _mse(out: np.ndarray, img: np.ndarray) -> float:
    return float(np.mean(np.square(out - img)))


def embed(rgb: np.ndarray, key: bytes, payload: int, cfg: WatermarkConfig | None = None,
          visible: np.ndarray | None = None) -> np.ndarray:
    """uint8 RGB (H, W, 3) -> watermarked uint8 RGB of the same shape."""
    return embed_measured(rgb, key, payload, cfg, visible)[0]


def embed_measured(rgb: np.ndarray, key: bytes, payload: int, cfg: WatermarkConfig | None = None,
                   visible: np.ndarray | None = None) -> tuple[np.ndarray, float]:
    """`embed`, also returning the PSNR (dB) it reached over the visible pixels.

    `visible` (H, W) bool: the distortion budget is spent over those pixels only (the RGB under fully
    transparent pixels is never seen, so it is marked at the same strength for free).

    Informed embedding (`cfg.informed` > 0, images without the pixel layer): the host image's own
    projection on each coded bit's chips (what the detector reads from the unmarked image) is measured,
    and each bit's chips are scaled so that bits the host works against get more of the budget and bits it
    already helps get less (improved spread spectrum, Malvar & Florencio 2003). Photos, whose texture
    leaves more host in the residual than the mark, need it; on flat renders the host reads ~0.
    """
    cfg = cfg or WatermarkConfig()
    if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.dtype != np.uint8:
        raise ValueError(f"expected a uint8 (H, W, 3) array, got {rgb.dtype} {rgb.shape}")
    h, w = rgb.shape[:2]
    if visible is not None and visible.shape != (h, w):
        raise ValueError(f"visible mask shape {visible.shape} does not match the image {(h, w)}")
    if visible is not None and (not visible.any() or visible.all()):
        visible = None
    reps = (-(-h // cfg.tile), -(-w // cfg.tile))
    pix: np.ndarray | None = None
    keep: np.ndarray | None = None
    if cfg.pixel_share > 0:
        # one channel that survives carries the grey change (per-channel minima: faster than .min(axis=2))
        keep = np.minimum(np.minimum(rgb[..., 0], rgb[..., 1]), rgb[..., 2]) <= cfg.survive_level
        if 0 < keep.mean() < cfg.pixel_when_below:
            pix = np.tile(pixel_tile(key, payload, cfg).astype(np.float32), reps)[:h, :w]

    def field(gains: np.ndarray | None) -> np.ndarray:
        pattern = np.tile(tile_pattern(key, payload, cfg, gains).astype(np.float32), reps)[:h, :w]  # (H, W)
        if pix is not None and keep is not None:
            b = np.float32(cfg.pixel_share)
            pattern = np.where(keep, (1 - b) * pattern + b * pix, pattern)
        return pattern

    amp, flat = amplitude_map(rgb, cfg)
    shape = fill_shape(rgb, flat, cfg) if pix is None else None  # the pixel layer's icons keep the plain fill
    img = rgb.astype(np.float32)
    dither = np.where(flat, np.float32(0.0), _dither(h, w))  # flat pixels round plainly: they stay <= 2 levels
    out, db = _fit(img, field(None), amp, flat, dither, visible, cfg, shape)
    if cfg.informed > 0 and pix is None:
        sign = encode_payload(payload).astype(np.float64) * 2.0 - 1.0
        host = _informed_reading(rgb, key, cfg) * sign  # (CODED_BITS,) > 0 where the host helps a bit
        mark = _informed_reading(out.astype(np.uint8), key, cfg) * sign - host  # the mark's share at gain 1
        per_gain = float(np.median(mark))
        if per_gain > 0:
            gains = np.clip((float(np.mean(mark)) + float(np.mean(host)) - cfg.informed * host) / per_gain,
                            0.0, cfg.informed_max)
            rms = float(np.sqrt(np.mean(gains**2)))
            if rms > 0:
                out, db = _fit(img, field(gains / rms), amp, flat, dither, visible, cfg, shape)
    return out.astype(np.uint8), db


def fill_shape(rgb: np.ndarray, flat: np.ndarray, cfg: WatermarkConfig) -> np.ndarray | None:
    """(H, W) float32 in (0, 1]: each pixel's share of the fill, f^2 / (f^2 + v) with v the local variance of
    the host's own "box" residual (what that detector weighs the pixel by), 1 on flat pixels; None when
    `cfg.shape_floor` is 0. `flat` (H, W) bool is `amplitude_map`'s."""
    if cfg.shape_floor <= 0:
        return None
    weight = _quiet_weight(_box_residual(luminance(rgb), 3), cfg.shape_floor, cfg.weight_window)
    return np.where(flat, np.float32(1.0), weight).astype(np.float32)


def _fit(img: np.ndarray, pattern: np.ndarray, amp: np.ndarray, flat: np.ndarray, dither: np.ndarray,
         visible: np.ndarray | None, cfg: WatermarkConfig, shape: np.ndarray | None = None) -> tuple[np.ndarray, float]:
    """The marked float32 image (H, W, 3) at the largest gain the PSNR budget allows, and its PSNR.

    Flat pixels sit at their cap and the masked ones fill the rest of the budget; when the flat pixels
    alone exceed it, both are scaled down together. With a fill `shape` (H, W) the masked pixels fill in
    proportion to it, so the gain may pass 1 (each pixel still stops at its cap) until the budget is spent.
    """
    h, w = img.shape[:2]
    top = 1.0  # the masked gain at which every masked pixel sits at its cap
    if shape is not None:
        pattern = pattern * shape
        if (~flat).any():  # all but the 5% least-filled pixels at their caps; at most 64 (the search's range)
            top = min(64.0, 1.0 / max(float(np.quantile(shape[~flat], 0.05)), 1.0 / 64.0))
    target = 255.0**2 / 10 ** (cfg.psnr_db / 10.0)
    # the budget search runs on a strided subset (~8k pixels: the dithered error grows smoothly with the
    # gain, so a small sample finds it); one exact check follows
    step = max(1, int(np.sqrt(h * w / 8192)))
    while step > 1 and np.gcd(step, cfg.tile) > 1:  # a stride sharing a factor with the tile sees few phases
        step += 1
    sel = (slice(None, None, step), slice(None, None, step))
    s_img, s_pat, s_amp, s_flat, s_dit = img[sel], pattern[sel], amp[sel], flat[sel], dither[sel]
    if visible is not None:
        s_img, s_pat, s_amp, s_flat, s_dit = (a[visible][:: step * step] for a in (img, pattern, amp, flat, dither))

    def delta(a: np.ndarray, p: np.ndarray, f: np.ndarray, d: np.ndarray, flat_gain: float,
              masked_gain: float) -> np.ndarray:
        # informed gains can push |p| past 1: the cap `a` of every pixel still holds
        return np.clip(a * p * np.where(f, np.float32(flat_gain), np.float32(masked_gain)), -a, a) + d

    scale_flat = _mse(_render(s_img, delta(s_amp, s_pat, s_flat, s_dit, 1.0, 0.0)), s_img) > target

    def gains(g: float) -> tuple[float, float]:
        """(flat gain, masked gain) for masked gain g."""
        return (min(g, 1.0) if scale_flat else 1.0, g)

    def sub_mse(g: float) -> float:
        return _mse(_render(s_img, delta(s_amp, s_pat, s_flat, s_dit, *gains(g))), s_img)

    lo, hi = 0.0, top
    if not scale_flat and sub_mse(top) <= target:
        lo = top  # everything fits at full strength
    else:
        for _ in range(8 + max(0, int(np.ceil(np.log2(top))))):  # to 1/256 of full strength; the exact check
            # below settles the last step
            mid = 0.5 * (lo + hi)
            if sub_mse(mid) > target:
                hi = mid
            else:
                lo = mid
    g = lo
    out = _render(img, delta(amp, pattern, flat, dither, *gains(g)))
    mse = _visible_mse(out, img, visible)
    while g > 0.05 and mse > target * 1.02:  # the subset under-estimated: shrink to the budget
        g *= float(np.sqrt(target / mse)) * 0.99
        out = _render(img, delta(amp, pattern, flat, dither, *gains(g)))
        mse = _visible_mse(out, img, visible)
    return out, (float("inf") if mse == 0 else 10.0 * float(np.log10(255.0**2 / mse)))


def _visible_mse(out: np.ndarray, img: np.ndarray, visible: np.ndarray | None) -> float:
    d = np.square(out - img)
    return float(d.mean() if visible is None else d[visible].mean())


def _box_residual(y: np.ndarray, k: int) -> np.ndarray:
    """Luminance (H, W) float32 minus its k x k mean."""
    import cv2  # lazy: opencv is a heavy import

    return y - cv2.blur(y, (k, k), borderType=cv2.BORDER_REFLECT)


def _quiet_weight(res: np.ndarray, floor: float, window: int) -> np.ndarray:
    """(H, W) float32 f^2 / (f^2 + v), v the residual's local variance over `window` pixels: near 1 where the
    neighbourhood is quiet, small where it is busy. The "box" detector weighs its residual by it and the
    embedder's fill shaping (`fill_shape`) spends the budget by it."""
    import cv2  # lazy: opencv is a heavy import

    f2 = np.float32(floor**2)
    var = cv2.blur(res * res, (window, window), borderType=cv2.BORDER_REFLECT)
    return f2 / (f2 + var)


def _residual(y: np.ndarray, cfg: WatermarkConfig, host: str) -> np.ndarray:
    """Luminance (H, W) minus the `host` estimate of the host image (one of HOSTS, see the module docstring):
    what is left is mostly watermark (and edges/texture)."""
    import cv2  # lazy: opencv is a heavy import

    if host in ("box", "box5"):
        res = _box_residual(y, 3 if host == "box" else 5)
        if cfg.weight_floor > 0:  # inverse-variance weighting: busy neighbourhoods count less
            res = res * _quiet_weight(res, cfg.weight_floor, cfg.weight_window)
        return res
    res = y - cv2.bilateralFilter(y, cfg.filter_size, cfg.range_sigma, cfg.filter_size / 2.0)
    k = int(2 * round(3 * cfg.highpass_sigma) + 1)
    return res - cv2.GaussianBlur(res, (k, k), cfg.highpass_sigma, borderType=cv2.BORDER_REFLECT)


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


def _folded(y: np.ndarray, cfg: WatermarkConfig, host: str) -> np.ndarray:
    """Luminance (H, W) -> (tile, tile) float64: the clipped host-free residual averaged over all tiles."""
    res = _residual(y, cfg, host)
    np.clip(res, -cfg.residual_clip, cfg.residual_clip, out=res)
    return _fold(res, cfg.tile).astype(np.float64)


def _soft_bits(rgb: np.ndarray, key: bytes, cfg: WatermarkConfig, host: str) -> np.ndarray:
    """(CODED_BITS,) the detector's soft reading of each coded bit at the uncropped phase (0, 0)."""
    return _chip_soft(_folded(luminance(rgb), cfg, host), _patterns(key, cfg), cfg)


def jpeg_round_trip(rgb: np.ndarray, quality: int = 75) -> np.ndarray:
    """uint8 RGB (H, W, 3) saved as JPEG and decoded again: the commonest loss a mark meets."""
    import io

    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(rgb).save(buf, "JPEG", quality=quality)
    return np.ascontiguousarray(np.asarray(Image.open(buf).convert("RGB")))


def _informed_reading(rgb: np.ndarray, key: bytes, cfg: WatermarkConfig) -> np.ndarray:
    """(CODED_BITS,) soft bits of `rgb` after a JPEG q75 round trip: the informed embedder works against
    the host as the detector reads it after the commonest loss. (Chosen on the development photos over
    reading it as is, after a half-size round trip, or summed over all three: as good or better after
    every attack, at a third of the cost of the sum.) It reads with the "box" host estimate, the one meant for
    textured photos (on flat renders every estimate reads the host as ~0; reading with "box5" instead was no
    better on the development photos)."""
    return _soft_bits(jpeg_round_trip(rgb), key, cfg, "box")


def _chip_soft(aligned: np.ndarray, kp: _KeyPatterns, cfg: WatermarkConfig) -> np.ndarray:
    """(tile, tile) folded residual at the pattern's phase -> (CODED_BITS,) soft bits of the data chips."""
    g, c = cfg.grid, cfg.chip
    data = kp.bit_of_chip >= 0
    # matched filter per chip: (grid, chip, grid, chip) * window summed over the chip pixels
    chips = (aligned.reshape(g, c, g, c) * kp.window[None, :, None, :]).sum(axis=(1, 3)) * kp.spread
    return np.bincount(kp.bit_of_chip[data], weights=chips[data], minlength=CODED_BITS)


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


def luminance(rgb: np.ndarray) -> np.ndarray:
    """(H, W, 3) uint8 -> (H, W) float32; the mean of the channels, matching how the pattern was added."""
    out = rgb[..., 0].astype(np.float32)  # per-channel adds are ~5x faster than .sum(axis=2)
    out += rgb[..., 1]
    out += rgb[..., 2]
    return out * np.float32(1.0 / 3.0)


def detect(rgb: np.ndarray, key: bytes, cfg: WatermarkConfig | None = None) -> Detection:
    """Look for a watermark made with `key` in a uint8 RGB (H, W, 3) image of any size >= one chip."""
    cfg = cfg or WatermarkConfig()
    if rgb.ndim != 3 or rgb.shape[2] != 3:
        raise ValueError(f"expected an (H, W, 3) array, got shape {rgb.shape}")
    best = Detection(False, None, None, 0.0, 0.0, (0, 0))
    y = luminance(rgb)  # (H, W), shared by every host estimate
    for host in cfg.hosts:
        det = _detect_with(y, key, cfg, host)
        if det.found:
            return det
        if det.pilot_z > best.pilot_z or best.guess is None:
            best = det
    return best


def _detect_with(y: np.ndarray, key: bytes, cfg: WatermarkConfig, host: str) -> Detection:
    """`detect` with one host estimate, on the luminance (H, W)."""
    kp = _patterns(key, cfg)
    acc = _folded(y, cfg, host)  # (tile, tile)
    # corr[d] = sum_x acc[x + d] * pilot[x]: the tile phase of the pattern within the (cropped) image
    pilot_pix = np.kron(kp.pilot, kp.window)
    corr = np.fft.ifft2(np.fft.fft2(acc) * np.conj(np.fft.fft2(pilot_pix))).real
    mu, sd = float(corr.mean()), float(corr.std()) or 1.0
    best = Detection(False, None, None, 0.0, 0.0, (0, 0))
    peaks = [p for p in _top_peaks(corr, cfg.peaks) if (float(corr[p]) - mu) / sd >= cfg.min_pilot_z]
    if cfg.pixel_share > 0 and (0, 0) not in peaks:
        peaks.append((0, 0))  # the uncropped phase: a brightened icon on white may leave the pilot too weak
    for dy, dx in peaks:
        z = (float(corr[dy, dx]) - mu) / sd
        aligned = np.roll(acc, (-dy, -dx), axis=(0, 1))
        soft = _chip_soft(aligned, kp, cfg)
        payload, guess, agree = decode_payload(soft)
        if payload is not None:
            return Detection(True, payload, guess, agree, z, (dy, dx))
        if cfg.pixel_share > 0:  # the pixel layer, alone and beside the chips (each scaled by its spread)
            pix = np.bincount(kp.bit_of_pixel.ravel(), weights=(aligned * kp.pixel_sign).ravel(),
                              minlength=CODED_BITS)
            for cand in (pix, soft / (np.std(soft) or 1.0) + pix / (np.std(pix) or 1.0)):
                p2, g2, a2 = decode_payload(cand)
                if p2 is not None:
                    return Detection(True, p2, g2, a2, z, (dy, dx))
                if a2 > agree:
                    guess, agree = g2, a2
        if z > best.pilot_z:
            best = Detection(False, None, guess, agree, z, (dy, dx))
    if best.pilot_z == 0.0:
        best = Detection(False, None, None, 0.0, (float(corr.max()) - mu) / sd, (0, 0))
    return best
