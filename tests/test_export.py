"""`workbench export`: the llama.cpp command for a configuration, checked flag by flag against llama.cpp's own
list of flags, per tool. Fast: fake paths for the pure function, the tiny GGUFs (headers only) for the command."""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from workbench.engine.settings import DRAFTERS, SPECS, LiveSettings, Settings
from workbench.export import llama_command

# llama.cpp's flags, from the common/arg.cpp vendored in llama-cpp-python 0.3.36: every option of its speculative
# section (.set_spec()) and the model, load and sampling options export may use, per tool. An option's
# .set_examples({...}) lists the tools that take it; one without is LLAMA_EXAMPLE_COMMON, taken by all. The
# removed options (--draft, --draft-max, --draft-min, --spec-ngram-size-n ...: their handlers call arg_removed)
# are left out: llama.cpp refuses them. test_the_flag_lists_match_llama_cpp re-reads arg.cpp when it is at hand.
LLAMA_CLI_FLAGS = frozenset("""
-m --model -t --threads -c --ctx-size -b --batch-size -fa --flash-attn -s --seed --temp --temperature --top-k --top-p
--min-p --override-kv
--spec-draft-hf -hfd -hfrd --hf-repo-draft --spec-draft-threads -td --threads-draft --spec-draft-threads-batch -tbd
--threads-batch-draft --spec-draft-cpu-mask -Cd --cpu-mask-draft --spec-draft-cpu-range -Crd --cpu-range-draft
--spec-draft-cpu-strict --cpu-strict-draft --spec-draft-prio --prio-draft --spec-draft-poll --poll-draft
--spec-draft-cpu-mask-batch -Cbd --cpu-mask-batch-draft --spec-draft-cpu-strict-batch --cpu-strict-batch-draft
--spec-draft-prio-batch --prio-batch-draft --spec-draft-poll-batch --poll-batch-draft --spec-draft-override-tensor
-otd --override-tensor-draft --spec-draft-cpu-moe -cmoed --cpu-moe-draft --spec-draft-n-cpu-moe --spec-draft-ncmoe
-ncmoed --n-cpu-moe-draft --spec-draft-n-max --spec-draft-n-min --spec-synth-len --spec-synth-rates
--spec-draft-p-split --draft-p-split --spec-draft-p-min --draft-p-min --spec-draft-backend-sampling
--no-spec-draft-backend-sampling --spec-draft-device -devd --device-draft --spec-draft-ngl -ngld --gpu-layers-draft
--n-gpu-layers-draft --spec-draft-model -md --model-draft --spec-type --spec-ngram-mod-n-min --spec-ngram-mod-n-max
--spec-ngram-mod-n-match --spec-ngram-simple-size-n --spec-ngram-simple-size-m --spec-ngram-simple-min-hits
--spec-ngram-map-k-size-n --spec-ngram-map-k-size-m --spec-ngram-map-k-min-hits --spec-ngram-map-k4v-size-n
--spec-ngram-map-k4v-size-m --spec-ngram-map-k4v-min-hits
""".split())
# -lcs/-lcd are .set_examples({LLAMA_EXAMPLE_LOOKUP, LLAMA_EXAMPLE_SERVER}): not llama-cli's
LLAMA_SERVER_FLAGS = LLAMA_CLI_FLAGS | {"-lcs", "--lookup-cache-static", "-lcd", "--lookup-cache-dynamic"}
FLAGS = {"llama-server": LLAMA_SERVER_FLAGS, "llama-cli": LLAMA_CLI_FLAGS}

TARGET, DRAFT = Path("/models/target.gguf"), Path("/models/draft.gguf")


def settings(**changes) -> Settings:
    """Settings as a person gives them (the rules apply: 'a,b' is a chain, K='auto' turns adaptive K on), with
    the draft gate off unless asked: the cases below are about the other settings' translation."""
    return LiveSettings(**{"draft_gate": "off", **changes}).snapshot()


def test_the_draft_gate_is_named_in_a_comment():
    text = llama_command(settings(drafter="ngram-mod", draft_gate="on"), TARGET, None, threads=2, ctx_size=2048,
                         batch_size=512, flash_attn="auto")
    comments, flags = command(text)
    assert any(c.startswith("draft gate on") for c in comments) and "--spec-type" in flags


def command(text: str, tool: str = "llama-server") -> tuple[list[str], dict[str, str]]:
    """The comments and the flags of an export, after checking its shape and every flag against llama.cpp's."""
    *comments, line = text.split("\n")
    assert all(c.startswith("# ") for c in comments), comments
    words = shlex.split(line)
    assert words[0] == tool
    pairs = words[1:]
    assert len(pairs) % 2 == 0, line  # every flag export emits takes one value
    flags = pairs[0::2]
    assert all(f.startswith("-") for f in flags) and not any(v.startswith("-") for v in pairs[1::2]), line
    unknown = [f for f in flags if f not in FLAGS[tool]]
    assert not unknown, f"{tool} does not take {unknown}"
    assert len(set(flags)) == len(flags), line
    return [c[2:] for c in comments], dict(zip(flags, pairs[1::2], strict=True))


SPEC_FLAGS = {spec.llama for spec in SPECS.values() if spec.llama and spec.used_by or spec.llama == "--spec-draft-n-max"}


def speculative(flags: dict[str, str]) -> set[str]:
    return {f for f in flags if f.startswith("--spec") or f in ("-md", "-td", "-lcs", "-lcd")}


def test_a_draft_model_with_k_and_p_min():
    text = llama_command(settings(drafter="draft", draft_max=6, p_min=0.2, draft_min=1), TARGET, DRAFT, threads=4,
                         ctx_size=2048, batch_size=256, flash_attn="on")
    comments, flags = command(text)
    assert comments == []
    assert flags == {"-m": str(TARGET), "-md": str(DRAFT), "-t": "4", "-td": "4", "-c": "2048", "-b": "256",
                     "-fa": "on", "--spec-type": "draft-simple", "--spec-draft-n-max": "6",
                     "--spec-draft-p-min": "0.2", "--spec-draft-n-min": "1", "--temp": "0"}


def test_a_cross_vocabulary_draft_is_left_out_with_a_comment_since_llama_cpp_refuses_it():
    comments, flags = command(llama_command(settings(drafter="draft", draft_max=6), TARGET, DRAFT, ctx_size=2048,
                                            cross_vocab=True))
    assert any(c.startswith("cross-vocabulary draft model: llama.cpp refuses") and "does not speculate" in c
               for c in comments)
    assert "-md" not in flags and "--spec-type" not in flags and not speculative(flags)
    comments, flags = command(llama_command(settings(drafter="ngram-mod,draft"), TARGET, DRAFT, ctx_size=2048,
                                            cross_vocab=True))
    assert flags["--spec-type"] == "ngram-mod" and "-md" not in flags
    assert any("cross-vocabulary" in c for c in comments)


def test_a_chain_of_ngram_mod_and_the_draft_model():
    s = settings(drafter="ngram-mod,draft", mod_n_match=16)
    assert s.drafter == "chain"
    comments, flags = command(llama_command(s, TARGET, DRAFT))
    assert comments == [] or all("context" in c for c in comments)
    assert flags["--spec-type"] == "ngram-mod,draft-simple"
    assert flags["--spec-ngram-mod-n-match"] == "16" and flags["--spec-ngram-mod-n-min"] == "48"
    assert flags["--spec-ngram-mod-n-max"] == "64" and flags["--spec-draft-n-max"] == "8"
    assert not any(f.startswith(("--spec-ngram-simple", "--spec-ngram-map")) for f in flags)  # not in use


def test_ngram_cache_with_its_lookup_cache_files():
    comments, flags = command(llama_command(settings(drafter="ngram-cache"), TARGET, None, ctx_size=4096,
                                            lookup_cache_static="static.bin", lookup_cache_dynamic="dynamic.bin"))
    assert flags["--spec-type"] == "ngram-cache" and flags["-lcs"] == "static.bin" and flags["-lcd"] == "dynamic.bin"
    assert "--spec-draft-n-max" not in flags  # K is the draft model's flag in llama.cpp
    assert any(c.startswith("-lcd") and "never saves it back" in c for c in comments)
    comments, _ = command(llama_command(settings(drafter="ngram-cache", draft_max=16), TARGET, None, ctx_size=4096))
    assert any("up to 8 tokens" in c and "K=16" in c for c in comments)


def test_lookup_alone_is_a_comment_and_no_speculation():
    comments, flags = command(llama_command(settings(drafter="lookup", ngram=4), TARGET, DRAFT, ctx_size=4096))
    assert not speculative(flags)
    assert any(c.startswith("drafter lookup") and "ngram-cache" in c and "ngram-simple" in c for c in comments)
    assert any(c.startswith("lookup n-gram 4") for c in comments)
    assert any(c.startswith("lookup min hits") for c in comments)


@pytest.mark.parametrize("drafter, nearest", [("suffix", "ngram-cache"), ("cascade", "ngram-cache,draft-simple")])
def test_the_workbench_s_own_drafters_name_their_nearest_llama_cpp_type(drafter, nearest):
    comments, flags = command(llama_command(settings(drafter=drafter), TARGET, DRAFT, ctx_size=4096))
    assert not speculative(flags)
    assert comments[0].startswith(f"drafter {drafter}") and f"--spec-type {nearest}" in comments[0]
    if drafter == "cascade":  # its stages' settings have no flag either
        assert any(c.startswith("cascade minimum") for c in comments)
        assert any(c.startswith("suffix min prob") for c in comments)


def test_chain_members_without_a_llama_cpp_type_are_left_out():
    comments, flags = command(llama_command(settings(drafter="lookup,ngram-simple"), TARGET, None, ctx_size=4096))
    assert flags["--spec-type"] == "ngram-simple" and flags["--spec-ngram-simple-size-n"] == "12"
    assert any("lookup" in c and "left out" in c for c in comments)
    comments, flags = command(llama_command(settings(drafter="lookup,suffix"), TARGET, None, ctx_size=4096))
    assert not speculative(flags)
    assert any("lookup" in c and "suffix" in c and "does not speculate" in c for c in comments)


def test_the_draft_model_is_left_out_when_not_used_or_missing():
    _, flags = command(llama_command(settings(drafter="none"), TARGET, DRAFT, ctx_size=4096))
    assert not speculative(flags)
    comments, flags = command(llama_command(settings(drafter="ngram-mod"), TARGET, DRAFT, ctx_size=4096))
    assert "-md" not in flags and any("-md left out" in c for c in comments)
    comments, flags = command(llama_command(settings(drafter="ngram-map-k,draft"), TARGET, None, ctx_size=4096))
    assert flags["--spec-type"] == "ngram-map-k" and "--spec-draft-n-max" not in flags
    assert any("needs a draft model" in c for c in comments)


def test_adaptive_k_is_a_comment_and_a_fixed_k():
    s = settings(drafter="draft", draft_max="auto")
    assert s.adaptive == "auto"
    comments, flags = command(llama_command(s, TARGET, DRAFT, ctx_size=4096))
    assert flags["--spec-draft-n-max"] == str(s.draft_max)
    assert any(c.startswith("adaptive K (auto)") and f"K={s.draft_max}" in c for c in comments)


def test_temperature_gives_the_sampling_flags_and_says_how_verification_differs():
    comments, flags = command(llama_command(settings(drafter="draft", temperature=0.7, top_k=20, seed=7), TARGET,
                                            DRAFT, ctx_size=4096))
    assert (flags["--temp"], flags["--top-k"], flags["--top-p"], flags["--min-p"], flags["--seed"]) == \
        ("0.7", "20", "0.95", "0", "7")
    note = next(c for c in comments if c.startswith("temperature 0.7"))
    assert "rejection sampling" in note and "acceptance differs" in note
    comments, flags = command(llama_command(settings(drafter="draft"), TARGET, DRAFT, ctx_size=4096))
    assert flags["--temp"] == "0" and "--top-k" not in flags and not comments


def test_sequential_verification_is_a_comment():
    comments, _ = command(llama_command(settings(drafter="draft", verify="sequential"), TARGET, DRAFT, ctx_size=4096))
    assert any(c.startswith("verification sequential") and "one batch" in c for c in comments)


def test_the_expert_count_is_a_kv_override():
    comments, flags = command(llama_command(settings(drafter="ngram-mod", experts=3), TARGET, None, ctx_size=4096,
                                            arch="qwen3moe"))
    assert flags["--override-kv"] == "qwen3moe.expert_used_count=int:3" and not comments
    comments, flags = command(llama_command(settings(experts=3), TARGET, None, ctx_size=4096))  # arch unknown
    assert "--override-kv" not in flags and any(c.startswith("experts 3") for c in comments)
    # the draft gets the target's --override-kv (llama.cpp has no draft-only one): a key of another architecture
    comments, flags = command(llama_command(settings(drafter="draft", experts=3, draft_experts=2), TARGET, DRAFT,
                                            ctx_size=4096, arch="qwen3moe", draft_arch="olmoe"))
    assert flags["--override-kv"] == "qwen3moe.expert_used_count=int:3,olmoe.expert_used_count=int:2"
    comments, flags = command(llama_command(settings(drafter="draft", draft_experts=2), TARGET, DRAFT,
                                            ctx_size=4096, arch="qwen3moe", draft_arch="qwen3moe"))
    assert "--override-kv" not in flags and any(c.startswith("draft experts 2") for c in comments)


def test_llama_cli_takes_no_lookup_cache_files():
    s = settings(drafter="ngram-mod,ngram-cache,draft", temperature=0.5)
    text = llama_command(s, TARGET, DRAFT, to="llama-cli", threads=2, ctx_size=4096, lookup_cache_static="s.bin",
                         lookup_cache_dynamic="d.bin")
    comments, flags = command(text, "llama-cli")
    assert flags["--spec-type"] == "ngram-mod,ngram-cache,draft-simple"
    assert "-lcs" not in flags and any("llama-cli does not take them" in c for c in comments)
    _, server = command(llama_command(s, TARGET, DRAFT, threads=2, ctx_size=4096, lookup_cache_static="s.bin",
                                      lookup_cache_dynamic="d.bin"))
    assert set(server) - set(flags) == {"-lcs", "-lcd"}


def test_a_path_with_spaces_is_quoted():
    _, flags = command(llama_command(settings(drafter="draft"), "/my models/t.gguf", "/my models/d.gguf",
                                     ctx_size=4096))
    assert flags["-m"] == "/my models/t.gguf" and flags["-md"] == "/my models/d.gguf"


CONFIGS = [*({"drafter": d} for d in DRAFTERS if d != "chain"),
           {"drafter": "ngram-simple,ngram-map-k,ngram-map-k4v,ngram-mod,ngram-cache,lookup,suffix,draft"},
           {"drafter": "draft", "draft_max": "heuristic", "temperature": 1.2, "verify": "sequential", "experts": 2,
            "draft_experts": 1}]


@pytest.mark.parametrize("tool", ["llama-server", "llama-cli"])
@pytest.mark.parametrize("config", CONFIGS, ids=lambda c: ",".join(f"{k}={v}" for k, v in c.items()))
@pytest.mark.parametrize("draft", [DRAFT, None], ids=["draft", "no-draft"])
def test_every_flag_of_every_configuration_is_llama_cpp_s(tool, config, draft):
    s = settings(**config)
    comments, flags = command(llama_command(s, TARGET, draft, to=tool, threads=3, lookup_cache_static="s.bin",
                                            lookup_cache_dynamic="d.bin", arch="llama", draft_arch="qwen2"), tool)
    types = flags.get("--spec-type", "").replace("draft-simple", "draft").split(",")
    for spec in SPECS.values():
        if spec.llama in SPEC_FLAGS:  # a drafter's flag: there exactly when its drafter runs in llama.cpp
            assert (spec.llama in flags) == any(m in (spec.used_by or ("draft",)) for m in types), (spec.llama, flags)


def test_every_setting_with_a_llama_cpp_flag_is_exported_by_some_configuration():
    seen: set[str] = set()
    for config in CONFIGS:
        seen |= set(command(llama_command(settings(**config), TARGET, DRAFT, ctx_size=4096))[1])
    seen |= set(command(llama_command(settings(temperature=0.5), TARGET, None, ctx_size=4096))[1])
    assert {spec.llama for spec in SPECS.values() if spec.llama} <= seen


def _arg_cpp() -> Path | None:
    for root in (os.environ.get("LLAMA_CPP_SRC"), "/tmp/lcpp/llama_cpp_python-0.3.36/vendor/llama.cpp"):
        if root and (Path(root) / "common" / "arg.cpp").is_file():
            return Path(root) / "common" / "arg.cpp"
    return None


@pytest.mark.skipif(_arg_cpp() is None, reason="llama.cpp's source is not at hand (set LLAMA_CPP_SRC)")
def test_the_flag_lists_match_llama_cpp():
    """Re-derive the lists above from arg.cpp: the options (not removed) each tool takes."""
    src = re.sub(r"(?m)^[ \t]*//.*$", "", _arg_cpp().read_text())  # a comment line may hold quotes
    starts = [m.start() for m in re.finditer(r"add_opt\(common_arg\(", src)] + [len(src)]
    takes: dict[str, set[str]] = {"SERVER": set(), "CLI": set()}
    spec_section: dict[str, set[str]] = {"SERVER": set(), "CLI": set()}
    for begin, end in zip(starts, starts[1:], strict=False):
        chunk = src[begin:end]
        names_at = re.search(r"\(\s*\{\s*((?:\"[^\"]*\"\s*,?\s*)+)\}", chunk)
        names = re.findall(r'"([^"]*)"', names_at.group(1))
        negated = re.match(r"\s*,\s*\{\s*((?:\"[^\"]*\"\s*,?\s*)+)\}", chunk[names_at.end():])
        names += re.findall(r'"([^"]*)"', negated.group(1)) if negated else []
        examples = re.search(r"\.set_examples\(\{([^}]*)\}\)", chunk)
        tools = {e.strip().removeprefix("LLAMA_EXAMPLE_") for e in examples.group(1).split(",")} if examples \
            else {"COMMON"}
        excludes = re.search(r"\.set_excludes\(\{([^}]*)\}\)", chunk)
        excluded = {e.strip().removeprefix("LLAMA_EXAMPLE_") for e in excludes.group(1).split(",")} if excludes else set()
        if "arg_removed(" in chunk or ".set_preset_only()" in chunk:
            continue
        for tool in takes:
            if (tool in tools or "COMMON" in tools) and tool not in excluded:
                takes[tool].update(names)
                if ".set_spec()" in chunk:
                    spec_section[tool].update(names)
    assert LLAMA_SERVER_FLAGS <= takes["SERVER"] and LLAMA_CLI_FLAGS <= takes["CLI"]
    assert spec_section["SERVER"] <= LLAMA_SERVER_FLAGS and spec_section["CLI"] <= LLAMA_CLI_FLAGS  # all of it
    assert not {"-lcs", "-lcd"} & takes["CLI"] and not {"--draft-max", "--draft-min"} & takes["SERVER"]


# --- the command ---------------------------------------------------------------------------------------------

def run(capsys, *args: str) -> tuple[int, str, str]:
    from workbench.cli import main

    code = main(["export", *args])
    out, err = capsys.readouterr()
    return code, out, err


def test_the_command_prints_the_llama_server_line(capsys, tiny_target, tiny_draft):
    code, out, err = run(capsys, "-m", str(tiny_target), "-md", str(tiny_draft), "--drafter", "ngram-mod,draft",
                         "--draft-max", "6", "-t", "2")
    assert code == 0 and err == ""
    comments, flags = command(out.rstrip("\n"))
    assert [c.split(":")[0] for c in comments] == ["draft gate on"]  # the default, which llama.cpp lacks
    assert flags["-m"] == str(tiny_target) and flags["-md"] == str(tiny_draft)
    assert flags["--spec-type"] == "ngram-mod,draft-simple" and flags["--spec-draft-n-max"] == "6"
    assert flags["-c"] == "512" and flags["-b"] == "512" and flags["-fa"] == "auto"  # the tiny model's own context
    assert flags["-t"] == "2" and flags["-td"] == "2"


def test_the_command_for_llama_cli_and_a_moe_target(capsys, tiny_moe):
    code, out, _ = run(capsys, "--tool", "llama-cli", "-m", str(tiny_moe), "--drafter", "ngram-cache",
                       "--experts", "1", "-lcd", "dynamic.bin")
    assert code == 0
    comments, flags = command(out.rstrip("\n"), "llama-cli")
    assert flags["--override-kv"] == "llama.expert_used_count=int:1" and flags["--spec-type"] == "ngram-cache"
    assert any("llama-cli does not take them" in c for c in comments)


def test_the_command_exports_a_preset_and_flags_override_it(capsys, tiny_target, tmp_path):
    preset = tmp_path / "mine.toml"
    preset.write_text(f'description = "x"\n[models]\ntarget = "{tiny_target}"\n'
                      '[settings]\ndrafter = "ngram-simple"\nsimple_n = 5\ntemperature = 0.3\n')
    code, out, _ = run(capsys, "--preset", str(preset))
    assert code == 0
    _, flags = command(out.splitlines()[-1])
    assert flags["-m"] == str(tiny_target) and flags["--spec-type"] == "ngram-simple"
    assert flags["--spec-ngram-simple-size-n"] == "5" and flags["--temp"] == "0.3"
    code, out, _ = run(capsys, "--preset", str(preset), "--temp", "0", "--spec-ngram-simple-size-n", "7")
    _, flags = command(out.splitlines()[-1])
    assert flags["--temp"] == "0" and flags["--spec-ngram-simple-size-n"] == "7"


@pytest.mark.parametrize("args, message", [
    (["-m", "/no/such/model.gguf"], "model '/no/such/model.gguf' not found"),
    (["-m", "{target}", "--drafter", "draft"], "needs a draft model"),
    (["-m", "{target}", "--draft-max", "100"], "from 0 to 64"),
    (["-m", "{target}", "--experts", "2"], "not a Mixture-of-Experts model"),
    (["-m", "{target}", "-lcs", "/no/such/cache.bin"], "no such lookup cache file"),
    (["-m", "{target}", "-c", "8"], "context size"),
])
def test_bad_input_is_one_line_and_exit_code_1(capsys, tiny_target, args, message):
    code, out, err = run(capsys, *(a.replace("{target}", str(tiny_target)) for a in args))
    assert code == 1 and out == ""
    assert err.startswith("workbench: error: ") and err.count("\n") == 1 and message in err, err


def test_the_command_loads_no_weights(tiny_target, tiny_draft):
    """llama.cpp is never imported: the paths and GGUF headers are all it reads."""
    code = (f"import sys; from workbench.cli import main; main(['export', '-m', {str(tiny_target)!r}, '-md', "
            f"{str(tiny_draft)!r}]); print('llama_cpp' in sys.modules)")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines()[-1] == "False" and "--spec-type draft-simple" in r.stdout


# --- the app -------------------------------------------------------------------------------------------------

async def test_the_live_screen_shows_and_copies_the_command(tiny_target, tiny_draft, tmp_path):
    from textual.notifications import Notify
    from textual.widgets import TextArea

    from workbench.app.app import WorkbenchApp
    from workbench.app.commands import ACTIONS
    from workbench.app.dialogs import ExportScreen
    from workbench.app.screens.live import LiveScreen, Opening
    from workbench.defaults import app_threads
    from workbench.engine.models import LoadOptions

    assert ("export" in {a for _, _, a in ACTIONS}) and hasattr(LiveScreen, "action_export")
    seen: list[str] = []
    threads = app_threads() + 1  # the app's own count (a core left to the UI) is not exported: a -t given is
    app = WorkbenchApp(LiveScreen(Settings(drafter="draft", draft_max=5), opening=Opening(),
                                  load_options=LoadOptions(n_ctx=256, n_threads=threads), transcripts_dir=tmp_path))
    def hook(message: object) -> None:
        if isinstance(message, Notify):
            seen.append(str(message.notification.message))

    async with app.run_test(size=(100, 30), message_hook=hook) as pilot:
        await pilot.pause()
        await pilot.press("ctrl+o")  # nothing loaded: one line
        await pilot.pause()
        assert not isinstance(app.screen, ExportScreen) and any("load a model first" in n for n in seen)
        app.main.load_models(str(tiny_target), str(tiny_draft))
        waited = 0.0
        while app.main.engine is None or app.main.engine.draft is None:
            await pilot.pause(0.05)
            waited += 0.05
            assert waited < 30
        await pilot.press("ctrl+o")
        await pilot.pause()
        assert isinstance(app.screen, ExportScreen)
        text = app.screen.query_one(TextArea).text
        _, flags = command(text)
        assert flags["--spec-type"] == "draft-simple" and flags["--spec-draft-n-max"] == "5"
        assert flags["-md"] == str(tiny_draft.resolve()) and flags["-c"] == "256" and flags["-t"] == str(threads)
        await pilot.press("c")
        await pilot.pause()
        assert app.clipboard == text and "copied" in seen
        await pilot.press("escape")
        await pilot.pause()
        assert not isinstance(app.screen, ExportScreen)


def test_exporting_ngram_cache_to_llama_server_says_it_drafts_otherwise_there():
    """llama-server's ngram-cache is fed differently from llama-lookup's (measured: far fewer drafts accepted);
    the export says so where it matters, for llama-server, and points at deploy-check."""
    s = Settings(drafter="ngram-cache", draft_max=8, draft_gate="off")
    server = llama_command(s, "t.gguf", to="llama-server")
    assert "--spec-type ngram-cache" in server
    assert any(line.startswith("# ngram-cache in llama-server") and "deploy-check" in line
               for line in server.splitlines())
    assert "ngram-cache in llama-server" not in llama_command(s, "t.gguf", to="llama-cli")
