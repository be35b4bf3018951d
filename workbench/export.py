"""`workbench export`: the llama.cpp command line (llama-server or llama-cli) for a workbench configuration.

Users tune speculative decoding here and deploy with llama.cpp, which takes speculative settings only as
command-line flags. `llama_command` turns the settings (and the model paths and load options) into one
shell command, preceded by a `# ` comment for each setting llama.cpp has no flag for, saying what it is and
what llama.cpp does instead. The flags come from the settings table (`Spec.llama`, engine/settings.py); which
tool takes which flag was read from llama.cpp's common/arg.cpp (the copy vendored in llama-cpp-python 0.3.36:
each option's `.set_examples`, LLAMA_EXAMPLE_COMMON when it has none), and the behaviours the comments
describe from its common/speculative.cpp.

Light on purpose: nothing heavy at module level (`llama_command` is pure; `export_command` reads only GGUF
headers, never weights).
"""

from __future__ import annotations

import argparse
import shlex
from pathlib import Path
from typing import Any

from .engine import drafter_registry
from .engine.errors import WorkbenchError
from .engine.settings import SPECS, Settings, chain_members, in_use

TOOLS = ("llama-server", "llama-cli")
# Flags this module emits that only some tools take (arg.cpp: -lcs/-lcd are LLAMA_EXAMPLE_LOOKUP and SERVER);
# every other flag it emits is LLAMA_EXAMPLE_COMMON or lists both SERVER and CLI.
_NOT_FOR = {"llama-cli": frozenset({"-lcs", "-lcd"}), "llama-server": frozenset()}
LLAMA_CTX_CAP = 4096  # the workbench's context when -c is 0: the model's own, at most this (engine/models.py)
LLAMA_NGRAM_CACHE_DRAFT = 8  # llama.cpp's ngram-cache drafts up to 8 tokens (speculative.cpp: create_state_ngram_cache)


def _num(value: Any) -> str:
    """A value as a flag takes it: 0.7, not 0.7000000000000001 or 0.70."""
    if isinstance(value, float):
        return f"{round(value, 6):g}"
    return str(value)


def _ours() -> dict[str, str]:
    """The workbench's own drafters, as the comments name them; llama.cpp has no --spec-type for them."""
    return {e.name: e.what for e in drafter_registry.entries() if not e.llama and e.name != "chain"}


def llama_command(settings: Settings, target: str | Path, draft: str | Path | None = None, *,
                  to: str = "llama-server", threads: int | None = None, ctx_size: int = 0, batch_size: int = 512,
                  flash_attn: str = "auto", arch: str | None = None, draft_arch: str | None = None,
                  lookup_cache_static: str | Path | None = None,
                  lookup_cache_dynamic: str | Path | None = None, cross_vocab: bool = False) -> str:
    """The text `workbench export` prints: a `# ` comment per setting llama.cpp cannot take (what it is, what
    llama.cpp does instead), then one shell command line for `to` (llama-server or llama-cli).

    threads None: llama.cpp's own default (-t and -td left out). ctx_size: the context the workbench loads
    (0, the model's own at most 4096 tokens, is left out with a comment: give the number when it is known).
    arch / draft_arch: the GGUFs' general.architecture, for the MoE expert-count override."""
    if to not in TOOLS:
        raise WorkbenchError(f"the tool must be one of {', '.join(TOOLS)}, not {to!r}")
    if flash_attn not in ("on", "off", "auto"):
        raise WorkbenchError(f"flash attention must be on, off or auto, not {flash_attn!r}")
    notes: list[str] = []
    args: list[str] = [to]

    def add(flag: str, *value: Any) -> None:
        assert flag not in _NOT_FOR[to], f"{to} does not take {flag}"
        args.extend([flag, *(_num(v) for v in value)])

    # --- which llama.cpp types: the drafter, or the chain's members, mapped --------------------------------
    s = settings
    members = [] if s.drafter == "none" else list(chain_members(s))
    has_draft = draft is not None
    types: list[str] = []  # the workbench names of the members llama.cpp runs
    ours = _ours()
    if s.drafter in ours:  # lookup, suffix or cascade alone: nothing to translate
        entry = drafter_registry.entry(s.drafter)
        what = entry.export or f"the workbench's {entry.what}"
        nearest = f"; nearest: --spec-type {entry.nearest[has_draft]}" if entry.nearest[has_draft] else ""
        notes.append(f"drafter {s.drafter} ({what}): llama.cpp has no equivalent, so this command does not "
                     f"speculate{nearest}")
    else:
        left_out = [m for m in members if m in ours]
        if "draft" in members and not has_draft:
            notes.append("draft-simple needs a draft model (-md) and none is given: left out")
        types = [m for m in members if m not in ours and (m != "draft" or has_draft)]
        if left_out:
            names = ", ".join(f"{m} ({ours[m]})" for m in left_out)
            rest = "left out of --spec-type" if types else "nothing remains, so this command does not speculate"
            notes.append(f"chain member{'s' * (len(left_out) > 1)} {names}: the workbench's own, no llama.cpp "
                         f"type: {rest}")
    if cross_vocab and "draft" in types:
        # llama.cpp refuses a draft with another vocabulary (common_speculative_are_compatible; it removed the
        # --spec-replace translation): the command would fail to start with it
        types.remove("draft")
        notes.append("cross-vocabulary draft model: llama.cpp refuses a draft with another vocabulary, so -md is "
                     "left out" + ("" if types else " and this command does not speculate"))
    uses_draft = "draft" in types

    # --- models and load options ------------------------------------------------------------------------
    add("-m", str(target))
    if has_draft and uses_draft:
        add("-md", str(draft))
    elif has_draft and members and "draft" not in members and not cross_vocab:
        notes.append(f"a draft model is given but drafter {s.drafter} does not use it: -md left out")
    if threads is not None:
        add("-t", threads)
        if uses_draft:
            add("-td", threads)  # the workbench loads both models with the same threads
    if ctx_size:
        add("-c", ctx_size)
    else:
        notes.append(f"context: the workbench uses the model's own, at most {LLAMA_CTX_CAP} tokens; -c left out, "
                     "so llama.cpp takes the model's full trained context")
    add("-b", batch_size)
    add("-fa", flash_attn)
    overrides = _experts(s, arch, draft_arch, uses_draft, notes)
    if overrides:
        add("--override-kv", ",".join(overrides))

    # --- speculative decoding -------------------------------------------------------------------------
    if types:
        add("--spec-type", ",".join(drafter_registry.entry(m).llama for m in types))
    if uses_draft:
        add(SPECS["draft_max"].llama, s.draft_max)
    for name, spec in SPECS.items():
        if not spec.used_by or name == "chain" or not in_use(spec, s):
            continue
        if spec.llama:
            if any(m in spec.used_by for m in types):
                add(spec.llama, getattr(s, name))
        elif members:
            owner = next((ours[u] for u in spec.used_by if u in ours), "/".join(spec.used_by))
            notes.append(f"{spec.label} {spec.format(getattr(s, name))}: the workbench's {owner} only, "
                         "no llama.cpp flag")
    if types and s.draft_gate == "on" and s.adaptive == "off":
        notes.append("draft gate on: the workbench cuts a drafter's next draft to one token more than it last had "
                     "accepted and pauses it after refused single tokens; llama.cpp drafts its full sizes every step "
                     "(--draft-gate off in the workbench drafts as llama.cpp does)")
    if s.adaptive != "off":
        fixed = (f"; the command drafts up to K={s.draft_max} every step (--spec-draft-n-max)" if uses_draft else
                 "; its n-gram types draft their own fixed sizes" if types else "")
        notes.append(f"adaptive K ({s.adaptive}): llama.cpp has no adaptive K{fixed}")
    if "ngram-cache" in types:
        if s.draft_max != LLAMA_NGRAM_CACHE_DRAFT:
            notes.append(f"ngram-cache: llama.cpp drafts up to {LLAMA_NGRAM_CACHE_DRAFT} tokens with it (fixed, no "
                         f"flag); the workbench drafts up to K={s.draft_max}")
        if to == "llama-server":
            notes.append("ngram-cache in llama-server counts its output's n-grams only within each step's new tokens "
                         "(common/speculative.cpp), unlike llama-lookup and the workbench, and has accepted far fewer "
                         "of its drafts on the same requests (docs/measurements.md): check it with workbench "
                         "deploy-check, and try ngram-mod or ngram-map-k")
        _caches(to, lookup_cache_static, lookup_cache_dynamic, add, notes)
    if s.verify == "sequential" and types:
        notes.append("verification sequential (one target pass per drafted token, exactly plain decoding's "
                     "logits): llama.cpp always verifies a draft in one batch")

    # --- sampling ------------------------------------------------------------------------------------------
    if s.temperature > 0:
        add("--temp", s.temperature)
        add("--top-k", s.top_k)
        add("--top-p", s.top_p)
        add("--min-p", 0.0)  # the workbench has no min-p; llama.cpp's default (0.05) would cut more tokens
        add("--seed", s.seed)
        if types:
            notes.append(f"temperature {_num(s.temperature)}: llama.cpp accepts a drafted token when it equals the "
                         "token it samples from the target, the workbench by rejection sampling; both follow the "
                         "target's distribution, but acceptance differs (exact matching accepts fewer drafts as the "
                         "temperature rises), and the same seed gives other text")
    else:
        add("--temp", 0)
    return "".join(f"# {note}\n" for note in notes) + shlex.join(args)


def speculates(settings: Settings, has_draft: bool) -> bool:
    """Whether llama.cpp can run these settings' drafting: their command has a --spec-type (`tune` saves such a
    configuration as a preset of its own, so that exporting it always gives speculative flags)."""
    command = llama_command(settings, "target.gguf", "draft.gguf" if has_draft else None).splitlines()[-1]
    return "--spec-type" in shlex.split(command)


def _experts(s: Settings, arch: str | None, draft_arch: str | None, uses_draft: bool, notes: list[str]) -> list[str]:
    """--override-kv entries for the experts per token. llama.cpp has no draft-only override: the draft model
    is loaded with the target's --override-kv (common_base_params_to_speculative copies the params), so a key
    reaches a model exactly when its architecture matches."""
    out: list[str] = []
    if s.experts:
        if arch:
            out.append(f"{arch}.expert_used_count=int:{s.experts}")
            if uses_draft and (draft_arch is None or draft_arch == arch) and s.draft_experts in (0, s.experts):
                notes.append(f"experts {s.experts}: llama.cpp loads the draft with the target's --override-kv, so a "
                             f"draft of the same architecture uses {s.experts} experts too (a dense one fails to load)")
        else:
            notes.append(f"experts {s.experts} (MoE experts used per token): the target's architecture is unknown; "
                         f"add --override-kv ARCH.expert_used_count=int:{s.experts}")
    if s.draft_experts and uses_draft:
        if draft_arch is None:
            notes.append(f"draft experts {s.draft_experts}: the draft's architecture is unknown, so not carried over "
                         "(llama.cpp has no draft-only override)")
        elif draft_arch != arch:
            out.append(f"{draft_arch}.expert_used_count=int:{s.draft_experts}")
            notes.append(f"draft experts {s.draft_experts}: llama.cpp has no draft-only override, but it gives the "
                         f"draft the target's --override-kv: the {draft_arch} key reaches only the draft")
        elif s.draft_experts != s.experts:
            notes.append(f"draft experts {s.draft_experts}: llama.cpp has no draft-only override and the draft shares "
                         f"the target's architecture ({arch}), so it uses the target's count: not carried over")
    return out


def _caches(to: str, static: str | Path | None, dynamic: str | Path | None, add: Any, notes: list[str]) -> None:
    """ngram-cache's lookup cache files: llama-server takes them, llama-cli does not."""
    if not (static or dynamic):
        return
    if to == "llama-cli":
        notes.append("lookup caches (-lcs/-lcd): llama-cli does not take them (llama-server and llama-lookup do); "
                     "its ngram-cache starts empty")
        return
    if static:
        add("-lcs", str(static))
    if dynamic:
        add("-lcd", str(dynamic))
        notes.append("-lcd: llama-server only reads the dynamic cache (it must exist: a workbench run writes it) and "
                     "never saves it back; the workbench updates it after every request")


# --- the command ---------------------------------------------------------------------------------------------

def settings_for(args: argparse.Namespace, preset: Any, has_draft: bool) -> Settings:
    """The flags' settings over the preset's (flags not given keep the preset's, then the table's defaults)."""
    from .args import settings_from_args

    return settings_from_args(args, preset, has_draft).snapshot()


def export_command(args: argparse.Namespace) -> int:
    """`workbench export`: print the llama.cpp command for the flags (or a preset). Reads GGUF headers only."""
    from . import presets
    from .defaults import default_model, find_model
    from .engine.gguf_info import inspect
    from .engine.models import LoadOptions, check_experts

    preset = presets.load(args.preset) if args.preset else None
    target_ref = args.model or (preset.target if preset else None)
    draft_ref = args.draft or (preset.draft if preset else None)
    target = find_model(target_ref) if target_ref else default_model()
    draft = find_model(draft_ref) if draft_ref else None
    info, draft_info = inspect(target), inspect(draft) if draft else None
    settings = settings_for(args, preset, draft is not None)
    if settings.drafter == "draft" and draft is None:
        raise WorkbenchError("--drafter draft needs a draft model: add -md DRAFT.gguf")
    check_experts(info, settings.experts)
    if draft_info is not None:
        check_experts(draft_info, settings.draft_experts)
    elif settings.draft_experts:
        raise WorkbenchError("no draft model is given: its expert count does not apply")
    LoadOptions(n_ctx=args.ctx_size, n_batch=args.batch_size, **({"n_threads": args.threads} if args.threads
                                                                  is not None else {}))  # their range checks
    static = args.lookup_cache_static
    if static and not Path(static).expanduser().is_file():
        raise WorkbenchError(f"{static}: no such lookup cache file")
    print(command_for(settings, target, draft, to=args.to, threads=args.threads, ctx_size=args.ctx_size,
                      batch_size=args.batch_size, flash_attn=args.flash_attn, lookup_cache_static=static,
                      lookup_cache_dynamic=args.lookup_cache_dynamic,
                      cross_vocab=bool(getattr(args, "cross_vocab", False))))
    return 0


def command_for(settings: Settings, target: Path, draft: Path | None, *, to: str = "llama-server",
                threads: int | None = None, ctx_size: int = 0, batch_size: int = 512, flash_attn: str = "auto",
                lookup_cache_static: str | None = None, lookup_cache_dynamic: str | None = None,
                cross_vocab: bool = False) -> str:
    """What `workbench export` prints for these models and settings (llama_command, with what it needs read from
    the GGUF headers: architectures, the trained context, whether the pair shares a vocabulary)."""
    from .engine.gguf_info import inspect
    from .engine.models import pair_problem, vocab_facts_from_file

    info, draft_info = inspect(target), inspect(draft) if draft else None
    ctx_size = ctx_size or min(LLAMA_CTX_CAP, info.n_ctx_train or LLAMA_CTX_CAP)  # as Model loads it
    # a pair of two vocabularies is refused as the app refuses it, or exported without its draft (--cross-vocab)
    other_vocab = draft is not None and pair_problem(vocab_facts_from_file(target), vocab_facts_from_file(draft),
                                                     cross_vocab) is not None
    return llama_command(settings, target, draft, to=to, threads=threads, ctx_size=ctx_size, batch_size=batch_size,
                         flash_attn=flash_attn, arch=info.arch, draft_arch=draft_info.arch if draft_info else None,
                         lookup_cache_static=lookup_cache_static, lookup_cache_dynamic=lookup_cache_dynamic,
                         cross_vocab=other_vocab)


__all__ = ["TOOLS", "command_for", "export_command", "llama_command", "settings_for", "speculates"]
