"""The combined drafting stack of the reference notes: retrieval first because it costs nothing, the
draft model only when retrieval has too little to say.

lookup -> suffix -> draft model (if loaded); each is asked only when the ones before proposed fewer
than `settings.cascade_min` tokens. When none reaches that, the longest proposal is used.
"""

from __future__ import annotations

import numpy as np

from ..engine.events import Source
from ..engine.settings import Settings
from .base import Drafter, Proposal


class CascadeDrafter:
    source = Source.LOOKUP  # the first stage; each proposal carries its own source

    def __init__(self, stages: list[Drafter]) -> None:
        self.stages = stages

    def reset(self) -> None:
        for stage in self.stages:
            stage.reset()

    def propose(self, context: list[int], k: int, settings: Settings, rng: np.random.Generator) -> Proposal:
        best = Proposal()
        for stage in self.stages:
            proposal = stage.propose(context, k, settings, rng)
            if len(proposal) >= min(settings.cascade_min, k):
                return proposal
            if len(proposal) > len(best):
                best = proposal
        return best

    def finish(self, context: list[int], n_prompt: int) -> None:
        for stage in self.stages:
            stage.finish(context, n_prompt)
