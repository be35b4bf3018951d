"""The combined drafting stack of the reference notes: retrieval first because it costs nothing, the
draft model only when retrieval has too little to say.

Its stages come in the order the factory (drafters/__init__.py) gives; each is asked only when the ones
before proposed fewer than `cascade_min` tokens. When none reaches that, the longest proposal is used.
The stage whose proposal was used gets the step's verdict; the others hear it as `is_other`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from ..events import Source
from ..settings import Settings
from .base import Drafter, Proposal


@dataclass(frozen=True, slots=True)
class CascadeParams:
    cascade_min: int
    stages: tuple[Any, ...]  # each stage's own parameters, in stage order


class CascadeDrafter(Drafter):
    source = Source.LOOKUP  # the first stage; each proposal carries its own source

    def __init__(self, stages: list[Drafter]) -> None:
        self.stages = stages
        self._used: Drafter | None = None  # the stage whose proposal the last step verified

    def params(self, settings: Settings) -> CascadeParams:
        return CascadeParams(settings.cascade_min, tuple(stage.params(settings) for stage in self.stages))

    def begin(self, context: list[int]) -> None:
        for stage in self.stages:
            stage.begin(context)

    def prepare(self, context: list[int]) -> None:
        for stage in self.stages:
            stage.prepare(context)

    def propose(self, context: list[int], k: int, params: CascadeParams, rng: np.random.Generator) -> Proposal:
        best, self._used = Proposal(), None
        for stage, stage_params in zip(self.stages, params.stages, strict=True):
            proposal = stage.propose(context, k, stage_params, rng)
            if len(proposal) >= min(params.cascade_min, k):
                self._used = stage
                return proposal
            if len(proposal) > len(best):
                best, self._used = proposal, stage
        return best

    def accept(self, n_accepted: int, is_other: bool) -> None:
        for stage in self.stages:
            stage.accept(n_accepted, is_other or stage is not self._used)

    def finish(self, context: list[int], n_prompt: int) -> None:
        for stage in self.stages:
            stage.finish(context, n_prompt)

    def forget(self) -> None:
        for stage in self.stages:
            stage.forget()
