"""The acceptance rules on synthetic distributions: greedy is exact, sampling reproduces p."""

import numpy as np
import pytest

from workbench.engine.sampling import SamplingParams, probabilities, sample
from workbench.engine.verify import accept_or_resample, greedy_verify, speculative_verify

# chi-square critical value at p = 0.001 for 5 degrees of freedom (6 categories)
CHI2_CRIT_DF5 = 20.52


def chi_square(counts: np.ndarray, p: np.ndarray) -> float:
    expected = counts.sum() * p
    mask = expected > 0
    assert counts[~mask].sum() == 0, "a token with zero probability was emitted"
    return float(((counts[mask] - expected[mask]) ** 2 / expected[mask]).sum())


def test_greedy_accepts_the_matching_prefix_then_takes_the_target_token():
    assert greedy_verify([5, 6, 7], [5, 6, 9, 1]) == (2, 9)  # correction at position 2
    assert greedy_verify([5, 6], [5, 6, 4]) == (2, 4)  # all accepted: bonus token
    assert greedy_verify([], [3]) == (0, 3)  # nothing drafted: a plain step
    assert greedy_verify([8], [2, 8]) == (0, 2)


@pytest.mark.parametrize("point_mass", [False, True])
def test_rejection_sampling_reproduces_the_target_distribution(point_mass: bool):
    rng = np.random.default_rng(1)
    p = np.array([0.05, 0.4, 0.1, 0.25, 0.0, 0.2])
    q = np.array([0.3, 0.1, 0.3, 0.1, 0.15, 0.05])  # far from p, with mass where p has none
    counts = np.zeros(6)
    accepted = 0
    n = 60_000
    for _ in range(n):
        x = 2 if point_mass else sample(q, rng)  # a model-free drafter always proposes the same token here
        kept, token = accept_or_resample(x, p, None if point_mass else q, rng)
        accepted += kept
        counts[token] += 1
    assert chi_square(counts, p) < CHI2_CRIT_DF5
    # the acceptance rate is sum(min(p, q)) for a sampled draft and p(x) for a point mass
    expected_rate = p[2] if point_mass else np.minimum(p, q).sum()
    assert abs(accepted / n - expected_rate) < 0.01


def test_multi_token_verification_follows_the_target_at_every_position():
    """Two draft positions with position-dependent p: the emitted first and second tokens follow p."""
    rng = np.random.default_rng(2)
    p0 = np.array([0.5, 0.3, 0.2])
    p1 = np.array([0.1, 0.1, 0.8])
    q0 = np.array([0.2, 0.2, 0.6])
    first = np.zeros(3)
    second = np.zeros(3)  # the token at position 1 when position 0 was accepted as token 0 ...
    n = 40_000
    for _ in range(n):
        x0 = sample(q0, rng)
        draft = [x0, 0]  # position 1 is a point-mass guess
        rows = lambda i: p0 if i == 0 else p1  # noqa: E731 (p1 regardless of x0, for a simple check)
        n_acc, nxt = speculative_verify(draft, rows, [q0, np.array([1.0, 0, 0])], rng)
        emitted = [*draft[:n_acc], nxt]
        first[emitted[0]] += 1
        if len(emitted) > 1:
            second[emitted[1]] += 1
    assert chi_square(np.r_[first, 0, 0, 0], np.r_[p0, 0, 0, 0]) < CHI2_CRIT_DF5
    assert chi_square(np.r_[second, 0, 0, 0], np.r_[p1, 0, 0, 0]) < CHI2_CRIT_DF5


def test_probabilities_apply_top_k_top_p_and_temperature():
    logits = np.array([3.0, 2.0, 1.0, 0.0, -1.0])
    p = probabilities(logits, SamplingParams(temperature=1.0, top_k=2, top_p=1.0))
    assert np.count_nonzero(p) == 2 and p.argmax() == 0 and abs(p.sum() - 1) < 1e-12
    full = probabilities(logits, SamplingParams(temperature=1.0, top_k=0, top_p=1.0))
    assert np.allclose(full, np.exp(logits) / np.exp(logits).sum())
    nucleus = probabilities(logits, SamplingParams(temperature=1.0, top_k=0, top_p=0.7))
    assert np.count_nonzero(nucleus) == 2  # 0.665 < 0.7 after one token, 0.91 after two
    cold = probabilities(logits, SamplingParams(temperature=0.1, top_k=0, top_p=1.0))
    assert cold[0] > 0.99
