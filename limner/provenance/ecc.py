"""Error detection and correction for the watermark payload: CRC-24 plus a rate-1/2 convolutional code.

The watermark carries `PAYLOAD_BITS` identifying bits. We append a CRC-24 (OpenPGP polynomial) so that a
decoded payload can be told apart from noise (a random word passes with probability 2^-24), then protect
payload+CRC with the standard K=7 (171, 133) convolutional code, zero-terminated, decoded by a soft-input
Viterbi decoder. Soft inputs are real numbers whose sign is the bit (positive = 1) and whose magnitude is
the evidence; the Viterbi decoder gains several dB over decoding each repeated bit on its own.

When the most likely path fails its CRC, a list Viterbi decoder (the `LIST_SIZE` most likely paths, parallel
list Viterbi: Seshadri & Sundberg 1994) tries the next ones in order of likelihood and keeps the first whose
CRC checks (CRC-aided list decoding). The CRC then spends log2(LIST_SIZE) of its 24 bits on correction: a
random word still passes with probability LIST_SIZE * 2^-24, about 2e-6.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

PAYLOAD_BITS = 48
CRC_BITS = 24
_CRC_POLY = 0x864CFB
_CRC_INIT = 0xB704CE
_K = 7  # constraint length
_GENERATORS = (0o171, 0o133)
_STATES = 1 << (_K - 1)
LIST_SIZE = 32  # paths a failed CRC falls back to (each costs the false-match rate 2^-24)
INFO_BITS = PAYLOAD_BITS + CRC_BITS
CODED_BITS = 2 * (INFO_BITS + _K - 1)  # 156: two outputs per info bit and per tail bit


def crc24(bits: np.ndarray) -> int:
    """CRC-24 of a bit array (MSB first), bitwise because the messages are only 48 bits long."""
    crc = _CRC_INIT
    for b in bits.astype(np.uint8).tolist():
        crc ^= int(b) << 23
        crc <<= 1
        if crc & 0x1000000:
            crc ^= _CRC_POLY
    return crc & 0xFFFFFF


def int_to_bits(value: int, n: int) -> np.ndarray:
    """`value` as an (n,) uint8 array of bits, MSB first; raises ValueError when it does not fit in n bits."""
    if value < 0 or value >= 1 << n:
        raise ValueError(f"value {value} does not fit in {n} bits")
    return np.array([(value >> (n - 1 - i)) & 1 for i in range(n)], dtype=np.uint8)


def bits_to_int(bits: np.ndarray) -> int:
    """The unsigned integer of a 0/1 bit array read MSB first (the inverse of `int_to_bits`)."""
    out = 0
    for b in bits.astype(np.uint8).tolist():
        out = (out << 1) | int(b)
    return out


def _parity(x: int) -> int:
    return bin(x).count("1") & 1


@lru_cache(maxsize=1)
def _trellis() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Predecessor states and the +-1 outputs of each transition into each state.

    A state is the last K-1 input bits (newest in the LSB). Entering state `ns` means the newest bit is
    `ns & 1`; the two possible predecessors differ in the bit that falls off the register.
    Returns prev (S, 2) ints, out (S, 2, 2) in {-1, +1}, and the input bit per state (S,).
    """
    prev = np.zeros((_STATES, 2), dtype=np.int64)
    out = np.zeros((_STATES, 2, 2), dtype=np.float64)
    for ns in range(_STATES):
        for j, oldest in enumerate((0, 1)):
            ps = (ns >> 1) | (oldest << (_K - 2))
            reg = ((ps << 1) | (ns & 1)) & ((1 << _K) - 1)
            prev[ns, j] = ps
            for g, gen in enumerate(_GENERATORS):
                out[ns, j, g] = 2.0 * _parity(reg & gen) - 1.0
    bit = np.arange(_STATES, dtype=np.int64) & 1
    return prev, out, bit


def conv_encode(info: np.ndarray) -> np.ndarray:
    """Info bits (n,) -> coded bits (2 * (n + K - 1),), zero-terminated."""
    state = 0
    out: list[int] = []
    for b in list(info.astype(np.uint8).tolist()) + [0] * (_K - 1):
        reg = ((state << 1) | int(b)) & ((1 << _K) - 1)
        out.extend(_parity(reg & g) for g in _GENERATORS)
        state = reg & (_STATES - 1)
    return np.array(out, dtype=np.uint8)


def viterbi_decode(soft: np.ndarray) -> np.ndarray:
    """Soft values (2 * (n + K - 1),), positive meaning 1 -> the most likely n info bits."""
    if soft.size % 2 or soft.size // 2 < _K:
        raise ValueError(f"soft input length {soft.size} is not a zero-terminated rate-1/2 codeword")
    prev, out, bit = _trellis()
    steps = soft.size // 2
    pairs = soft.reshape(steps, 2).astype(np.float64)
    metric = np.full(_STATES, -np.inf)
    metric[0] = 0.0
    choice = np.zeros((steps, _STATES), dtype=np.uint8)
    for t in range(steps):
        # (S, 2): path metric through each predecessor plus the branch correlation with the received pair
        cand = metric[prev] + out @ pairs[t]
        c = np.argmax(cand, axis=1)
        choice[t] = c
        metric = cand[np.arange(_STATES), c]
    state = 0  # the encoder is flushed back to state 0
    bits = np.zeros(steps, dtype=np.uint8)
    for t in range(steps - 1, -1, -1):
        bits[t] = bit[state]
        state = int(prev[state, choice[t, state]])
    return bits[: steps - (_K - 1)]


def list_viterbi_decode(soft: np.ndarray, size: int) -> list[np.ndarray]:
    """Soft values (2 * (n + K - 1),) -> up to `size` info-bit arrays (n,), most likely first.

    Each state keeps its `size` best paths: metric (S, L); a step scores the 2L extensions into each state
    and keeps the best L, remembering for each which predecessor (0/1) and which of its ranks it extends.
    """
    if soft.size % 2 or soft.size // 2 < _K:
        raise ValueError(f"soft input length {soft.size} is not a zero-terminated rate-1/2 codeword")
    if size < 1:
        raise ValueError(f"list size {size} must be at least 1")
    prev, out, bit = _trellis()
    steps = soft.size // 2
    pairs = soft.reshape(steps, 2).astype(np.float64)
    metric = np.full((_STATES, size), -np.inf)
    metric[0, 0] = 0.0
    back = np.zeros((steps, _STATES, size), dtype=np.int64)  # index into the 2L candidates of that state
    for t in range(steps):
        branch = out @ pairs[t]  # (S, 2): correlation of each transition's outputs with the received pair
        cand = np.concatenate([metric[prev[:, 0]] + branch[:, :1], metric[prev[:, 1]] + branch[:, 1:]],
                              axis=1)  # (S, 2L): [through predecessor 0 ranks..., predecessor 1 ranks...]
        order = np.argsort(-cand, axis=1, kind="stable")[:, :size]  # (S, L)
        back[t] = order
        metric = np.take_along_axis(cand, order, axis=1)
    alive = np.flatnonzero(np.isfinite(metric[0]))  # ranks that reached the flushed state 0 (most likely first)
    state = np.zeros(alive.size, dtype=np.int64)
    rank = alive.copy()
    bits = np.zeros((alive.size, steps), dtype=np.uint8)
    for t in range(steps - 1, -1, -1):  # trace all paths back at once
        bits[:, t] = bit[state]
        j, rank = np.divmod(back[t, state, rank], size)
        state = prev[state, j]
    return [b[: steps - (_K - 1)] for b in bits]


def encode_payload(payload: int) -> np.ndarray:
    """48-bit payload -> the CODED_BITS coded bits (0/1) that the watermark carries."""
    return _encoded(payload).copy()


@lru_cache(maxsize=64)
def _encoded(payload: int) -> np.ndarray:
    # one embed encodes its payload up to four times (pattern, pixel layer, informed signs, self-check)
    bits = int_to_bits(payload, PAYLOAD_BITS)
    info = np.concatenate([bits, int_to_bits(crc24(bits), CRC_BITS)])
    return conv_encode(info)


def decode_payload(soft: np.ndarray) -> tuple[int | None, int, float]:
    """Soft coded bits -> (payload or None when the CRC fails, best-guess payload, agreement in [0, 1]).

    Agreement is the share of soft evidence whose sign matches the re-encoded decision: about 0.5-0.6 for
    noise, near 1 for a clean watermark.
    """
    best = viterbi_decode(soft)
    if _crc_checks(best):
        payload = bits_to_int(best[:PAYLOAD_BITS])
        return payload, payload, _agreement(soft, best)
    for info in list_viterbi_decode(soft, LIST_SIZE)[1:]:  # the first is `best` again
        if _crc_checks(info):
            payload = bits_to_int(info[:PAYLOAD_BITS])
            return payload, payload, _agreement(soft, info)
    return None, bits_to_int(best[:PAYLOAD_BITS]), _agreement(soft, best)


def _crc_checks(info: np.ndarray) -> bool:
    return crc24(info[:PAYLOAD_BITS]) == bits_to_int(info[PAYLOAD_BITS:])


def _agreement(soft: np.ndarray, info: np.ndarray) -> float:
    """Share of the soft evidence whose sign matches the codeword of `info`."""
    code = conv_encode(info).astype(np.float64) * 2.0 - 1.0
    mag = np.abs(soft)
    total = float(mag.sum())
    return float(mag[np.sign(soft) == code].sum()) / total if total > 0 else 0.0
