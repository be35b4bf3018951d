"""Turning target or draft logits into the distribution a token is sampled from.

The same function shapes p (target) and q (draft), which lossless speculative sampling requires.
The order follows llama.cpp's default sampler chain (top-k, then top-p on the softmax of what is left,
then temperature), so a setting means here what it means in llama.cpp.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True, slots=True)
class SamplingParams:
    temperature: float = 0.0  # 0 means greedy
    top_k: int = 40  # 0 disables
    top_p: float = 0.95  # 1.0 disables

    @property
    def greedy(self) -> bool:
        return self.temperature <= 0.0


def _softmax(x: np.ndarray) -> np.ndarray:
    e = np.exp(x - x.max())
    return e / e.sum()


def probabilities(logits: np.ndarray, params: SamplingParams) -> np.ndarray:
    """A full-vocabulary float64 distribution, zero outside the tokens top-k/top-p keep."""
    logits = np.asarray(logits, dtype=np.float64)
    n = logits.shape[0]
    if 0 < params.top_k < n:
        keep = np.argpartition(logits, n - params.top_k)[n - params.top_k:]
    else:
        keep = np.arange(n)
    kept = logits[keep]
    if params.top_p < 1.0:
        order = np.argsort(-kept, kind="stable")
        cum = np.cumsum(_softmax(kept[order]))
        # smallest prefix whose mass reaches top_p (always at least one token)
        cut = int(np.searchsorted(cum, params.top_p, side="left")) + 1
        sel = order[:cut]
        keep, kept = keep[sel], kept[sel]
    out = np.zeros(n, dtype=np.float64)
    out[keep] = _softmax(kept / max(params.temperature, 1e-6))
    return out


def sample(probs: np.ndarray, rng: np.random.Generator) -> int:
    """Inverse-CDF draw; cheaper than rng.choice on a 50k-256k vocabulary."""
    cum = np.cumsum(probs)
    return int(min(np.searchsorted(cum, rng.random() * cum[-1], side="right"), len(probs) - 1))
