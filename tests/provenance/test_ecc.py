from __future__ import annotations

import numpy as np
import pytest

from limner.provenance.ecc import (
    CODED_BITS,
    PAYLOAD_BITS,
    bits_to_int,
    conv_encode,
    crc24,
    decode_payload,
    encode_payload,
    int_to_bits,
    list_viterbi_decode,
    viterbi_decode,
)


def test_crc24_detects_any_single_bit_flip() -> None:
    bits = int_to_bits(0xA5A5_1234_9876, PAYLOAD_BITS)
    ref = crc24(bits)
    for i in range(PAYLOAD_BITS):
        flipped = bits.copy()
        flipped[i] ^= 1
        assert crc24(flipped) != ref


def test_viterbi_corrects_noisy_soft_bits() -> None:
    rng = np.random.default_rng(0)
    ok, flipped = 0, 0
    for _ in range(20):
        payload = int(rng.integers(1, 2**PAYLOAD_BITS))
        code = encode_payload(payload).astype(float) * 2 - 1
        assert code.size == CODED_BITS
        # Eb/N0 ~ 3 dB: about 8% of the coded bits arrive with the wrong sign
        soft = code + rng.normal(0, 0.7, code.size)
        flipped += int((np.sign(soft) != code).sum())
        got, guess, agree = decode_payload(soft)
        ok += got == payload
        assert 0.0 <= agree <= 1.0
    assert ok >= 19
    assert flipped > 20 * CODED_BITS * 0.03  # the decoder really had errors to correct


def test_noise_is_rejected_by_the_crc() -> None:
    rng = np.random.default_rng(1)
    accepted = sum(decode_payload(rng.normal(0, 1, CODED_BITS))[0] is not None for _ in range(300))
    assert accepted == 0


def test_list_viterbi_starts_with_the_viterbi_path_and_lists_distinct_paths() -> None:
    rng = np.random.default_rng(2)
    code = encode_payload(0x1234_5678_9ABC).astype(float) * 2 - 1
    soft = code + rng.normal(0, 1.0, code.size)
    paths = list_viterbi_decode(soft, 16)
    assert len(paths) == 16
    assert np.array_equal(paths[0], viterbi_decode(soft))
    assert len({p.tobytes() for p in paths}) == 16
    # most likely first: each path's correlation with the received values never rises down the list
    score = [float(soft @ (conv_encode(p).astype(float) * 2 - 1)) for p in paths]
    assert all(a >= b - 1e-9 for a, b in zip(score, score[1:], strict=False))


def test_list_decoding_recovers_payloads_the_best_path_alone_loses() -> None:
    """At Eb/N0 near 0 dB the single Viterbi path fails its CRC about half the time; the CRC-aided list
    recovers many of those and never returns a wrong payload."""
    rng = np.random.default_rng(3)
    plain = listed = 0
    for _ in range(60):
        payload = int(rng.integers(1, 2**PAYLOAD_BITS))
        soft = encode_payload(payload).astype(float) * 2 - 1 + rng.normal(0, 1.0, CODED_BITS)
        best = viterbi_decode(soft)
        plain += bits_to_int(best[:PAYLOAD_BITS]) == payload and crc24(best[:PAYLOAD_BITS]) == bits_to_int(
            best[PAYLOAD_BITS:])
        got = decode_payload(soft)[0]
        assert got in (None, payload)
        listed += got == payload
    assert listed >= plain + 10


def test_list_viterbi_rejects_bad_arguments() -> None:
    with pytest.raises(ValueError, match="list size 0"):
        list_viterbi_decode(np.zeros(CODED_BITS), 0)
    with pytest.raises(ValueError, match="soft input length 7"):
        list_viterbi_decode(np.zeros(7), 4)
