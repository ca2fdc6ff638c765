"""Colour science for the scorer: sRGB -> CIELAB (D65), CIEDE2000, and naming a colour.

Named colours are assigned by the nearest world colour in CIEDE2000; hex colours are scored by the
CIEDE2000 distance of an object's median pixel colour to the target. Everything is vectorised numpy.
"""

from __future__ import annotations

import numpy as np

from limner.data.world import COLORS, color_rgb

# D65 reference white (CIE 1931 2 degree observer), as XYZ with Y = 1.
_WHITE_D65 = np.array([0.95047, 1.0, 1.08883])
_SRGB_TO_XYZ = np.array([
    [0.4124564, 0.3575761, 0.1804375],
    [0.2126729, 0.7151522, 0.0721750],
    [0.0193339, 0.1191920, 0.9503041],
])


def srgb_to_lab(rgb: np.ndarray) -> np.ndarray:
    """sRGB in [0, 255], shape (..., 3) -> CIELAB (..., 3) under D65."""
    c = np.asarray(rgb, dtype=np.float64) / 255.0
    lin = np.where(c <= 0.04045, c / 12.92, ((c + 0.055) / 1.055) ** 2.4)
    xyz = lin @ _SRGB_TO_XYZ.T / _WHITE_D65
    eps, kappa = 216 / 24389, 24389 / 27
    f = np.where(xyz > eps, np.cbrt(xyz), (kappa * xyz + 16) / 116)
    L = 116 * f[..., 1] - 16
    a = 500 * (f[..., 0] - f[..., 1])
    b = 200 * (f[..., 1] - f[..., 2])
    return np.stack([L, a, b], axis=-1)


def ciede2000(lab1: np.ndarray, lab2: np.ndarray) -> np.ndarray:
    """CIEDE2000 colour difference (kL = kC = kH = 1) between broadcastable Lab arrays (..., 3)."""
    lab1 = np.asarray(lab1, dtype=np.float64)
    lab2 = np.asarray(lab2, dtype=np.float64)
    L1, a1, b1 = lab1[..., 0], lab1[..., 1], lab1[..., 2]
    L2, a2, b2 = lab2[..., 0], lab2[..., 1], lab2[..., 2]
    c1 = np.hypot(a1, b1)
    c2 = np.hypot(a2, b2)
    c_bar7 = ((c1 + c2) / 2) ** 7
    g = 0.5 * (1 - np.sqrt(c_bar7 / (c_bar7 + 25.0**7)))
    a1p, a2p = (1 + g) * a1, (1 + g) * a2
    c1p, c2p = np.hypot(a1p, b1), np.hypot(a2p, b2)
    # Hue angles in degrees in [0, 360); a zero chroma has hue 0 by convention.
    h1p = np.where((a1p == 0) & (b1 == 0), 0.0, np.degrees(np.arctan2(b1, a1p)) % 360)
    h2p = np.where((a2p == 0) & (b2 == 0), 0.0, np.degrees(np.arctan2(b2, a2p)) % 360)
    dLp = L2 - L1
    dCp = c2p - c1p
    zero_c = (c1p * c2p) == 0
    dh = h2p - h1p
    dhp = np.where(dh > 180, dh - 360, np.where(dh < -180, dh + 360, dh))
    dhp = np.where(zero_c, 0.0, dhp)
    dHp = 2 * np.sqrt(c1p * c2p) * np.sin(np.radians(dhp / 2))
    Lbp = (L1 + L2) / 2
    Cbp = (c1p + c2p) / 2
    hsum = h1p + h2p
    hbp = np.where(np.abs(h1p - h2p) <= 180, hsum / 2, np.where(hsum < 360, (hsum + 360) / 2, (hsum - 360) / 2))
    hbp = np.where(zero_c, hsum, hbp)
    t = (1 - 0.17 * np.cos(np.radians(hbp - 30)) + 0.24 * np.cos(np.radians(2 * hbp))
         + 0.32 * np.cos(np.radians(3 * hbp + 6)) - 0.20 * np.cos(np.radians(4 * hbp - 63)))
    d_theta = 30 * np.exp(-(((hbp - 275) / 25) ** 2))
    cbp7 = Cbp**7
    rc = 2 * np.sqrt(cbp7 / (cbp7 + 25.0**7))
    sl = 1 + 0.015 * (Lbp - 50) ** 2 / np.sqrt(20 + (Lbp - 50) ** 2)
    sc = 1 + 0.045 * Cbp
    sh = 1 + 0.015 * Cbp * t
    rt = -np.sin(np.radians(2 * d_theta)) * rc
    return np.sqrt((dLp / sl) ** 2 + (dCp / sc) ** 2 + (dHp / sh) ** 2 + rt * (dCp / sc) * (dHp / sh))


_NAMES: tuple[str, ...] = tuple(COLORS)
_NAMED_LAB: np.ndarray = srgb_to_lab(np.array([COLORS[n] for n in _NAMES], dtype=np.float64))  # (12, 3)


def color_lab(color: str) -> np.ndarray:
    """CIELAB (3,) of a named colour or #RRGGBB."""
    return srgb_to_lab(np.array(color_rgb(color), dtype=np.float64))


def nearest_named(rgb: np.ndarray | tuple[float, float, float]) -> str:
    """The world colour name (e.g. 'red') nearest in CIEDE2000 to an sRGB colour."""
    lab = srgb_to_lab(np.asarray(rgb, dtype=np.float64))
    return _NAMES[int(np.argmin(ciede2000(lab[None, :], _NAMED_LAB)))]


def canonical_color(color: str) -> str:
    """'Grey' -> 'gray', '#1e90ff' -> '#1E90FF'; raises ValueError for an unknown colour."""
    color_rgb(color)  # validates
    c = color.strip().lower()
    return c.upper() if c.startswith("#") else {"grey": "gray"}.get(c, c)


def de2000_rgb(rgb: np.ndarray | tuple[float, float, float], color: str) -> float:
    """CIEDE2000 between an sRGB colour (0-255) and a named or hex colour."""
    return float(ciede2000(srgb_to_lab(np.asarray(rgb, dtype=np.float64)), color_lab(color)))
