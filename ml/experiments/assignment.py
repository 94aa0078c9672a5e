"""Deterministic assignment of units to experiment arms, bit-compatible with GrowthBook's SDKs.

A unit (a user, a site, a content piece) always lands in the same arm of the same experiment,
on any machine and in any process, with no state to store: the arm is a function of a hash of
the experiment's seed and the unit's id. The hash and the bucket ranges are those of the
GrowthBook SDKs (``hash``, ``getBucketRanges``, ``chooseVariation`` in the SDK specification),
so an experiment run here and one run through a GrowthBook SDK put a unit in the same arm.

* FNV-1a 32-bit over the characters of the string (code points, as the Python SDK does).
* Hash version 2 (the SDKs' default for new experiments): ``fnv1a32(str(fnv1a32(seed + value)))
  % 10000 / 10000``. Version 1 (legacy): ``fnv1a32(value + seed) % 1000 / 1000``.
* Bucket ranges: each arm ``i`` owns ``[start_i, start_i + coverage * w_i)``, where ``start_i``
  is the sum of the weights before it; a hash in no range (coverage < 1) is not in the
  experiment.
"""

from __future__ import annotations

from collections.abc import Sequence

__all__ = ["assign", "bucket_ranges", "choose_variation", "fnv1a32", "gb_hash"]

_FNV_OFFSET = 0x811C9DC5
_FNV_PRIME = 0x01000193
_MASK32 = 0xFFFFFFFF


def fnv1a32(text: str) -> int:
    """Return the 32-bit FNV-1a hash of ``text`` (one step per character, as GrowthBook's SDKs)."""
    h = _FNV_OFFSET
    for ch in text:
        h ^= ord(ch)
        h = (h * _FNV_PRIME) & _MASK32
    return h


def gb_hash(seed: str, value: str, version: int = 2) -> float | None:
    """GrowthBook's bucketing hash of ``value`` under ``seed``, a number in [0, 1).

    Args:
        seed: The experiment's seed (GrowthBook uses the experiment key when no seed is set).
        value: The unit's id (the hash attribute's value, as a string).
        version: 2 (default, 4 decimals) or 1 (legacy, 3 decimals).

    Returns:
        The bucket in [0, 1), or ``None`` for an unknown hash version (as the SDKs do).
    """
    if version == 2:
        return (fnv1a32(str(fnv1a32(seed + value))) % 10000) / 10000
    if version == 1:
        return (fnv1a32(value + seed) % 1000) / 1000
    return None


def bucket_ranges(
    num_variations: int, coverage: float = 1.0, weights: Sequence[float] | None = None
) -> list[tuple[float, float]]:
    """GrowthBook's ``getBucketRanges``: the half-open hash interval owned by each arm.

    Mirrors the SDK exactly, including its fallbacks: coverage is clamped to [0, 1], and
    weights of the wrong length or summing outside [0.99, 1.01] are replaced by equal weights.
    """
    coverage = min(max(coverage, 0.0), 1.0)
    if weights is None or len(weights) != num_variations:
        weights = [1.0 / num_variations] * num_variations
    total = sum(weights)
    if total < 0.99 or total > 1.01:
        weights = [1.0 / num_variations] * num_variations
    ranges: list[tuple[float, float]] = []
    cumulative = 0.0
    for w in weights:
        start = cumulative
        cumulative += w
        ranges.append((start, start + coverage * w))
    return ranges


def choose_variation(n: float, ranges: Sequence[tuple[float, float]]) -> int:
    """GrowthBook's ``chooseVariation``: the index of the range holding ``n``, or -1."""
    for i, (lo, hi) in enumerate(ranges):
        if lo <= n < hi:
            return i
    return -1


def assign(
    unit_id: str | int,
    experiment_key: str,
    weights: Sequence[float],
    *,
    seed: str | None = None,
    coverage: float = 1.0,
    hash_version: int = 2,
) -> int | None:
    """Return the arm index of ``unit_id`` in an experiment, or ``None`` if it is not enrolled.

    Deterministic and stateless: the same unit, key (or seed), weights and coverage always give
    the same arm, and the same arm a GrowthBook SDK would give for an experiment with that key
    (or seed), those weights and that coverage.

    Args:
        unit_id: The unit's id; integers are hashed as their decimal string, like the SDKs.
        experiment_key: The experiment's key; it is the hash seed unless ``seed`` is given.
        weights: Traffic share of each arm (arm 0 is the control); must sum to 1 (± 0.01).
        seed: An explicit hash seed (GrowthBook's ``seed``; empty means "use the key").
        coverage: Share of units enrolled at all, in [0, 1].
        hash_version: GrowthBook hash version, 2 (default) or 1.

    Raises:
        ValueError: For no arms, a negative weight, or weights not summing to 1. (The SDK
            silently falls back to equal weights there; an experiment here refuses instead.)
    """
    if not weights:
        raise ValueError("an experiment needs at least one arm")
    if any(w < 0 for w in weights):
        raise ValueError(f"negative weight in {list(weights)}")
    total = sum(weights)
    if total < 0.99 or total > 1.01:
        raise ValueError(f"weights must sum to 1, got {total}")
    n = gb_hash(seed or experiment_key, str(unit_id), hash_version)
    if n is None:
        return None
    arm = choose_variation(n, bucket_ranges(len(weights), coverage, weights))
    return None if arm < 0 else arm
