"""The one table of limits: output sizes, native sizes and the checks every boundary shares."""

import pytest

from limner.limits import (
    MAX_OUTPUT_SIDE,
    OPENAI_SIZES,
    SUPPORTED_SIZES,
    check_best_of,
    check_n,
    check_prompt,
    closest_size,
    native_size,
    parse_output_size,
    parse_size,
)


def test_every_documented_openai_size_is_accepted_and_drawn_at_its_aspect() -> None:
    for name in OPENAI_SIZES:
        w, h = parse_output_size(name)
        nw, nh = native_size((w, h))
        assert (nw, nh) in SUPPORTED_SIZES
        assert (w > h) == (nw > nh) and (w < h) == (nw < nh)  # landscape stays landscape, square stays square
    assert native_size((1792, 1024)) == (384, 256) and native_size((1024, 1536)) == (256, 384)
    assert native_size((384, 256)) == (384, 256)  # a native size is drawn as it is


def test_sizes_outside_the_limits_are_named() -> None:
    for bad in ("5000x10", f"{MAX_OUTPUT_SIDE + 1}x256", "10x10"):
        with pytest.raises(ValueError, match=f"unsupported size '{bad}'"):
            parse_output_size(bad)
    with pytest.raises(ValueError, match="bad size 'big'"):
        parse_output_size("big")
    with pytest.raises(ValueError, match="supported sizes are"):
        parse_size("1024x1024")  # the engine's own sizes are the native ones only


def test_closest_size_compares_aspects_symmetrically() -> None:
    assert closest_size(1000, 1000) == (256, 256)
    assert closest_size(3000, 1000) == (384, 256) and closest_size(1000, 3000) == (256, 384)


def test_checks_name_the_bad_value() -> None:
    assert check_prompt("  a red star ") == "a red star"
    for bad, msg in ((" ", "prompt is empty"), ("x" * 32_001, "the maximum is 32000")):
        with pytest.raises(ValueError, match=msg):
            check_prompt(bad)
    check_n(10)
    with pytest.raises(ValueError, match="n must be between 1 and 10, got 11"):
        check_n(11)
    with pytest.raises(ValueError, match="n must be between 1 and 10, got True"):
        check_n(True)  # type: ignore[arg-type]
    check_best_of(8)
    with pytest.raises(ValueError, match="best_of must be between 1 and 8, got 0"):
        check_best_of(0)
