"""A draft model with another vocabulary (Hugging Face's universal assisted decoding, vLLM's cross-tokenizer
drafting; llama.cpp refuses such pairs).

Each step goes through text twice:
1. The target's context becomes text (its tokens' pieces, kept incrementally) and is tokenized with the draft's
   tokenizer: the text after an anchor each step, the draft tokens before it fixed (DraftContext). Tokenization
   is local, so this gives the whole text's tokens, and the draft model's cache keeps the common prefix
   (DraftModelDrafter compares token by token) and evaluates only the tail.
2. The draft model drafts greedily in its own vocabulary; its text is tokenized with the target's tokenizer
   behind a look-behind window of the target's last tokens, so that the draft's first word is split as the
   target would split it after what it has already written. The translated tokens start where the window's
   text ends; if the tokenizer merges the window's last token with the draft's first characters (the draft
   finishing a word the target began), the draft's text is tokenized on its own instead.

Verification stays in the target's vocabulary and does not depend on how a draft was made, so greedy output is
the target's own. The draft is a point mass (no q), which speculative sampling verifies losslessly at any
temperature (verify.py): the draft model drafts greedily at T > 0 too, since its q lives in another vocabulary.
"""

from __future__ import annotations

import codecs
import math
from dataclasses import replace

import numpy as np

from ..events import Source
from ..models import Model
from .base import Drafter, Proposal
from .draft_model import DraftModelDrafter, DraftParams

LOOK_BEHIND = 8  # target tokens of context tokenized with the draft's text, so its first word splits as in context
RETOKENIZE_BYTES = 2048  # the context's text tokenized again each step is at most about this long...
KEEP_BYTES = 512  # ... and this much of it stays behind the anchor when it moves


def valid_utf8(data: bytes) -> bytes:
    """`data` as text both tokenizers take: an incomplete character at its end dropped (the draft stopped inside
    a multi-byte character; its last bytes are not text yet), invalid bytes elsewhere replaced by U+FFFD."""
    decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
    return decoder.decode(data, final=False).encode("utf-8")


class DraftContext:
    """The target's context as draft tokens. Its text grows token by token; only the text after an anchor is
    tokenized again each step, and the anchor moves up to a word boundary once the text behind it is long:
    tokenizing the whole context each step cost 10.8 ms at 4,000 Gemma tokens (SmolLM2's tokenizer), a
    decoding step's worth. The draft tokens before the anchor are fixed, so the draft model's cache keeps them."""

    def __init__(self, target: Model, draft: Model) -> None:
        self.target, self.draft = target, draft
        # does the draft's tokenizer put a space in front of a text (SentencePiece's add_space_prefix)? Then a
        # text that starts with a space loses it, and the tokenizer puts it back
        self._space_prefix = draft.piece(draft.tokenize(b"a", add_bos=False, special=False)[0]).startswith(b" ")
        self._start([])

    def _start(self, tokens: list[int]) -> None:
        self.tokens = list(tokens)  # the target tokens whose text `data` holds
        self.data = bytearray(b"".join(self.target.piece(t) for t in tokens))
        self.anchor = 0  # bytes of `data` whose draft tokens are fixed
        self.fixed: list[int] = []  # those draft tokens (with the draft's BOS)

    def of(self, context: list[int]) -> list[int]:
        n = len(self.tokens)
        if len(context) < n or context[:n] != self.tokens:  # a new request (or another context): start again
            self._start(context)
        else:
            for token in context[n:]:
                self.data += self.target.piece(token)
            self.tokens.extend(context[n:])
        raw = bytes(self.data[self.anchor:])
        tail = valid_utf8(raw)
        text = tail[1:] if self._space_prefix and tail.startswith(b" ") else tail
        tokens = self.draft.tokenize(text, add_bos=self.draft.add_bos and self.anchor == 0, special=False)
        whole = self.fixed + tokens
        if len(tail) > RETOKENIZE_BYTES:
            self._advance(raw, tail, tokens)  # `whole` stays as it is: the next step tokenizes from the anchor
        return whole

    def _advance(self, raw: bytes, tail: bytes, tokens: list[int]) -> None:
        """Fix the draft tokens of all but the last KEEP_BYTES of the tail, up to a token that starts a word (a
        boundary where tokenizing afresh splits as the whole text did)."""
        pieces = [self.draft.piece(t) for t in tokens]
        if b"".join(pieces) != tail:
            return  # a tokenizer whose pieces do not spell its text: keep tokenizing the whole tail
        at = 0
        for i, piece in enumerate(pieces):
            if at >= len(tail) - KEEP_BYTES and i and piece.startswith(b" ") and raw[:at] == tail[:at]:
                self.fixed += tokens[:i]
                self.anchor += at
                return
            at += len(piece)


class CrossVocabDrafter(Drafter):
    """The draft model's drafts, translated into the target's vocabulary through text."""

    source = Source.DRAFT
    Params = DraftParams

    def __init__(self, draft: Model, target: Model) -> None:
        self.draft = draft
        self.target = target
        self.inner = DraftModelDrafter(draft)  # the draft model's cache, in its own vocabulary
        self._context = DraftContext(target, draft)
        # draft tokens per translated target token so far: a step drafts enough of its own tokens for K
        self._source_tokens = 0
        self._translated = 0

    def least(self, params: DraftParams) -> int:
        return params.draft_min

    def _draft_context(self, context: list[int]) -> list[int]:
        return self._context.of(context)

    def prepare(self, context: list[int]) -> None:
        self.inner.prepare(self._draft_context(context))

    def propose(self, context: list[int], k: int, params: DraftParams, rng: np.random.Generator) -> Proposal:
        ratio = self._source_tokens / self._translated if self._translated else 1.0
        n_draft = max(1, min(2 * k, math.ceil(k * ratio)))
        greedy = replace(params, temperature=0.0, draft_min=0)  # a point mass: lossless at any temperature
        drafted = self.inner.propose(self._draft_context(context), n_draft, greedy, rng).tokens
        eog = next((i for i, t in enumerate(drafted) if self.draft.is_eog(t)), None)
        if eog is not None:
            drafted = drafted[:eog]
        tokens = self.translate(context, drafted)
        if tokens:
            self._source_tokens += len(drafted)
            self._translated += len(tokens)
        tokens = tokens[:k]
        if not tokens or len(tokens) < min(params.draft_min, k):
            return Proposal([], self.source)
        return Proposal(tokens, self.source, None, len(drafted))

    def translate(self, context: list[int], drafted: list[int]) -> list[int]:
        """The draft model's tokens as target tokens that continue `context`."""
        text = valid_utf8(b"".join(self.draft.piece(t) for t in drafted))
        if not text:
            return []
        behind = b"".join(self.target.piece(t) for t in context[-LOOK_BEHIND:])
        whole = valid_utf8(behind + text)
        tokens = self.target.tokenize(whole, add_bos=False, special=False)
        pieces = [self.target.piece(t) for t in tokens]
        added = sum(map(len, pieces)) - len(whole)  # a space the tokenizer put in front (SentencePiece)
        boundary, at = len(behind) + max(added, 0), 0
        for i, piece in enumerate(pieces):
            if at == boundary:
                return tokens[i:]
            at += len(piece)
            if at > boundary:
                break
        # the draft's first characters joined the target's last token: its text alone, without an added space
        tokens = self.target.tokenize(text, add_bos=False, special=False)
        if tokens and not text.startswith(b" ") and self.target.piece(tokens[0]).startswith(b" "):
            first = self.target.piece(tokens[0])[1:]
            return tokens[1:] if not first else []
        return tokens

    # the draft model's cache follows the context in propose(); the rest of the hooks concern only it
    def begin(self, context: list[int]) -> None:
        self._context = DraftContext(self.target, self.draft)

    def forget(self) -> None:
        self._source_tokens = self._translated = 0


def build(model: Model | None, translate_to: Model | None) -> Drafter | None:
    """The draft drafter (drafter_registry.py): None without a draft model; with `translate_to` (the target), a draft
    model of another vocabulary whose drafts are translated."""
    if model is None:
        return None
    return CrossVocabDrafter(model, translate_to) if translate_to is not None else DraftModelDrafter(model)
