import numpy as np
import pytest

from limner.data.world import COLORS
from limner.vision.color import canonical_color, ciede2000, de2000_rgb, nearest_named, srgb_to_lab

# Sharma, Wu & Dalal (2005), "The CIEDE2000 color-difference formula: implementation notes,
# supplementary test data, and mathematical observations": pairs 1-3, 7, 13, 16-20, 24, 25, 30, 31, 34.
SHARMA = [
    ((50.0, 2.6772, -79.7751), (50.0, 0.0, -82.7485), 2.0425),
    ((50.0, 3.1571, -77.2803), (50.0, 0.0, -82.7485), 2.8615),
    ((50.0, 2.8361, -74.0200), (50.0, 0.0, -82.7485), 3.4412),
    ((50.0, 0.0, 0.0), (50.0, -1.0, 2.0), 2.3669),
    ((50.0, 2.4900, -0.0010), (50.0, -2.4900, 0.0009), 7.1792),
    ((50.0, 2.4900, -0.0010), (50.0, -2.4900, 0.0012), 7.2195),
    ((50.0, 2.5, 0.0), (73.0, 25.0, -18.0), 27.1492),
    ((50.0, 2.5, 0.0), (61.0, -5.0, 29.0), 22.8977),
    ((50.0, 2.5, 0.0), (56.0, -27.0, -3.0), 31.9030),
    ((50.0, 2.5, 0.0), (58.0, 24.0, 15.0), 19.4535),
    ((60.2574, -34.0099, 36.2677), (60.4626, -34.1751, 39.4387), 1.2644),
    ((63.0109, -31.0961, -5.8663), (62.8187, -29.7946, -4.0864), 1.2630),
    ((90.8027, -2.0831, 1.4410), (91.1528, -1.6435, 0.0447), 1.4441),
    ((90.9257, -0.5406, -0.9208), (88.6381, -0.8985, -0.7239), 1.5381),
    ((2.0776, 0.0795, -1.1350), (0.9033, -0.0636, -0.5514), 0.9082),
]


@pytest.mark.parametrize(("lab1", "lab2", "expected"), SHARMA)
def test_ciede2000_matches_sharma_reference(lab1, lab2, expected):
    assert float(ciede2000(np.array(lab1), np.array(lab2))) == pytest.approx(expected, abs=1e-4)
    assert float(ciede2000(np.array(lab2), np.array(lab1))) == pytest.approx(expected, abs=1e-4)


def test_ciede2000_vectorised_and_zero_on_identity():
    a = np.array([p[0] for p in SHARMA])
    b = np.array([p[1] for p in SHARMA])
    np.testing.assert_allclose(ciede2000(a, b), [p[2] for p in SHARMA], atol=1e-4)
    assert np.all(ciede2000(a, a) == 0)


def test_srgb_to_lab_reference_points():
    np.testing.assert_allclose(srgb_to_lab(np.array([255, 255, 255])), [100, 0, 0], atol=1e-3)
    np.testing.assert_allclose(srgb_to_lab(np.array([0, 0, 0])), [0, 0, 0], atol=1e-6)
    np.testing.assert_allclose(srgb_to_lab(np.array([255, 0, 0])), [53.24, 80.09, 67.20], atol=0.02)


def test_named_colours_name_themselves_and_survive_small_drift():
    rng = np.random.default_rng(0)
    for name, rgb in COLORS.items():
        assert nearest_named(rgb) == name
        drifted = np.clip(np.array(rgb) + rng.uniform(-12, 12, 3), 0, 255)
        assert nearest_named(drifted) == name, (name, drifted)


def test_de2000_rgb_and_canonical_color():
    assert de2000_rgb((30, 144, 255), "#1E90FF") == pytest.approx(0.0, abs=1e-9)
    assert de2000_rgb((30, 144, 255), "#1E90F0") < 5
    assert de2000_rgb((30, 144, 255), "red") > 40
    assert canonical_color("Grey") == "gray"
    assert canonical_color("#1e90ff") == "#1E90FF"
    with pytest.raises(ValueError, match="mauve"):
        canonical_color("mauve")
