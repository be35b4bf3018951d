"""The settings table: one declaration per setting, from which the CLI, the sidebar and validation come,
and the rules between settings, which hold in the engine for headless runs and the app alike."""

from __future__ import annotations

import pytest

from workbench.args import settings_from_args
from workbench.cli import build_parser
from workbench.engine.errors import WorkbenchError
from workbench.engine.settings import AUTO_K_CEILING, SPECS, LiveSettings, Settings, describe, validate


def test_every_setting_has_a_spec_and_every_flag_reaches_the_parser():
    assert set(Settings.__dataclass_fields__) <= set(SPECS)
    help_text = build_parser().format_help()
    for name, spec in SPECS.items():
        assert spec.label and spec.short and spec.help, name
        if spec.flag:
            assert spec.flag in help_text, name


def test_flags_become_settings_with_the_table_defaults_for_the_rest():
    args = build_parser().parse_args(["run", "--headless", "--temp", "0.5", "--ngram", "2", "-p", "x"])
    s = settings_from_args(args).snapshot()
    assert (s.temperature, s.ngram, s.drafter) == (0.5, 2, "lookup")  # no -md: lookup
    assert (s.draft_max, s.top_k, s.top_p) == (Settings().draft_max, Settings().top_k, Settings().top_p)
    args = build_parser().parse_args(["run", "--headless", "-md", "d.gguf", "--draft-max", "auto", "-p", "x"])
    s = settings_from_args(args).snapshot()
    assert (s.drafter, s.adaptive, s.draft_max) == ("draft", "auto", AUTO_K_CEILING)


def test_a_k_set_by_hand_turns_adaptive_k_off_in_the_engine():
    live = LiveSettings(adaptive="auto", draft_max=16)
    assert live.snapshot().adaptive == "auto"
    assert live.update(temperature=0.5).adaptive == "auto"  # other settings leave it alone
    assert live.update(draft_max=16).adaptive == "auto"  # the same K is no change
    after = live.update(draft_max=4)
    assert (after.adaptive, after.draft_max) == ("off", 4)
    assert live.update(draft_max="heuristic").adaptive == "heuristic"


@pytest.mark.parametrize("name, value, message", [
    ("draft_max", 65, "draft_max must be from 0 to 64"),
    ("draft_max", 2.5, "must be a whole number"),
    ("temperature", float("nan"), "must be a number"),
    ("top_p", "x", "must be a number"),
    ("drafter", "magic", "unknown drafter 'magic'"),
    ("n_predict", 0, "n_predict must be at least 1"),
    ("nonsense", 1, "unknown setting"),
])
def test_validation_says_what_is_allowed(name, value, message):
    with pytest.raises(WorkbenchError, match=message):
        validate(name, value)


def test_an_update_is_all_or_nothing():
    live = LiveSettings(draft_max=4)
    with pytest.raises(WorkbenchError):
        live.update(temperature=0.7, top_p=3.0)
    assert live.snapshot().temperature == 0.0
    with pytest.raises(WorkbenchError, match="unknown setting 'n_predict'"):
        live.update(n_predict=5)  # a run setting, not the engine's


def test_marks_use_the_short_names():
    assert describe({"draft_max": 4, "temperature": 0.7}) == "K=4 T=0.7"


def test_the_sidebar_is_derived_from_the_table():
    from workbench.app.widgets.controls import CHOICES, FIELDS, TEXTS

    assert list(CHOICES) == ["drafter", "adaptive", "draft_gate", "verify"]
    assert list(FIELDS) == ["draft_max", "temperature", "top_k", "top_p", "ngram", "lookup_min_hits",
                            "suffix_min_prob", "p_min", "draft_min", "simple_n", "simple_m", "map_k_n", "map_k_m",
                            "map_k_min_hits", "map_k4v_n", "map_k4v_m", "map_k4v_min_hits", "mod_n_match",
                            "mod_n_min", "mod_n_max", "experts", "seed", "n_predict"]
    assert list(TEXTS) == ["chain"]
    assert FIELDS["draft_max"].label == "K (draft max)"


def test_only_the_parameters_of_the_drafters_in_use_are_shown():
    from workbench.engine.settings import in_use

    def shown(**kw):
        s = Settings(**kw)
        return {name for name, spec in SPECS.items() if spec.used_by and in_use(spec, s)}

    assert shown(drafter="ngram-mod") == {"mod_n_match", "mod_n_min", "mod_n_max"}
    assert shown(drafter="draft") == {"p_min", "draft_min"}
    assert shown(drafter="lookup") == {"ngram", "lookup_min_hits"}
    assert shown(drafter="chain", chain="ngram-simple,draft") == {"chain", "simple_n", "simple_m", "p_min",
                                                                   "draft_min"}
    assert shown(drafter="none") == set()


def test_a_chain_is_given_as_llama_cpp_gives_it_and_runs_in_its_order():
    live = LiveSettings()
    live.update(drafter="draft-simple,ngram-mod")
    s = live.snapshot()
    assert (s.drafter, s.chain) == ("chain", "ngram-mod,draft")  # llama.cpp's order: n-gram types first
    live.update(drafter="draft-simple")
    assert live.snapshot().drafter == "draft"
    with pytest.raises(WorkbenchError, match="unknown drafter 'ngram-foo' in the chain"):
        live.update(drafter="ngram-mod,ngram-foo")
    with pytest.raises(WorkbenchError, match="unknown drafter 'fast'"):
        live.update(drafter="fast")
    with pytest.raises(WorkbenchError, match="names no drafter"):
        live.update(chain=" , ")
    assert live.snapshot().chain == "ngram-mod,draft"  # refused: nothing changed


@pytest.mark.parametrize("text", ["1_", "1_0", "1e3", "1e", "-", ".", "", "inf", "nan", "0x10", "4_"])
def test_half_typed_and_unusual_numbers_are_refused(text):
    with pytest.raises(WorkbenchError, match="must be a"):
        validate("temperature", text)
    with pytest.raises(WorkbenchError, match="must be a whole number"):
        validate("draft_max", text)


@pytest.mark.parametrize("text, value", [("3", 3), ("+3", 3), ("3.0", 3), (" 4 ", 4)])
def test_numbers_typed_as_numbers_are_taken(text, value):
    assert validate("draft_max", text) == value


def test_a_decimal_is_not_a_whole_number():
    with pytest.raises(WorkbenchError, match="whole number, not '3.5'"):
        validate("draft_max", "3.5")
    with pytest.raises(WorkbenchError, match="draft_max must be from 0 to 64, not -5"):
        validate("draft_max", "-5")


def test_plot_ticks_are_round():
    from workbench.app.widgets.plots import nice_ticks

    assert nice_ticks(89) == [0, 25, 50, 75, 100]
    assert nice_ticks(32.3) == [0, 10, 20, 30, 40]
    assert nice_ticks(12.9) == [0, 5, 10, 15]
    assert nice_ticks(1, whole=True) == [0, 1]
    assert all(len(nice_ticks(h)) <= 5 for h in (0.3, 7, 99.9, 1234, 5e6))
