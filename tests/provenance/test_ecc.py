from __future__ import annotations

import numpy as np

from limner.provenance.ecc import CODED_BITS, PAYLOAD_BITS, crc24, decode_payload, encode_payload, int_to_bits


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
