"""The payoff arithmetic (engine/payoff.py), worked by hand."""

from __future__ import annotations

import math

import pytest

from workbench.engine.events import Source, StepEvent
from workbench.engine.payoff import Costs, break_even, costs, expected_tokens, independent, predicted_speedup
from workbench.engine.stats import Stats


def test_costs_are_medians_in_plain_steps():
    c = costs({1: [0.010, 0.012, 0.010], 2: [0.015, 0.050, 0.015], 3: [0.020]}, draft_seconds=0.004, drafted=4)
    assert c is not None and c.plain_seconds == 0.010
    assert c.verify == pytest.approx({1: 1.0, 2: 1.5, 3: 2.0})
    assert c.draft_token == pytest.approx(0.1)  # 1 ms a drafted token, a tenth of a plain step
    assert c.step(2) == pytest.approx(2.2) and c.step(3) is None
    assert costs({2: [0.015]}) is None  # no plain step measured: nothing to count in


def test_the_predicted_speedup_and_the_break_even_worked_by_hand():
    c = Costs({1: 1.0, 2: 1.5, 3: 2.0})  # a batch of 2 costs 1.5 plain steps, of 3 two; drafting free
    half = independent(0.5, 2)
    assert half == [0.5, 0.25]  # the first token accepted half the time, both a quarter
    # K=1: 1 + 0.5 tokens for 1.5 steps; K=2: 1 + 0.5 + 0.25 tokens for 2 steps
    assert expected_tokens(half, 1) == 1.5 and expected_tokens(half, 2) == 1.75
    assert predicted_speedup(c, half, 1) == 1.0 and predicted_speedup(c, half, 2) == 0.875
    assert predicted_speedup(c, half, 3) is None  # neither the cost of a batch of 4 nor position 3 is measured
    # break-even: 1 + a = 1.5 at K=1; 1 + a + a^2 = 2 at K=2, a = (sqrt 5 - 1) / 2
    assert break_even(c, 1) == pytest.approx(0.5)
    assert break_even(c, 2) == pytest.approx((math.sqrt(5) - 1) / 2)
    # measured acceptance by position, not independent: the first always, the second never
    assert predicted_speedup(c, [1.0, 0.0], 2) == 1.0
    # a step that costs k + 1 plain steps can never pay; one that costs a plain step always does
    assert break_even(Costs({1: 1.0, 2: 2.0}), 1) is None and break_even(Costs({1: 1.0, 2: 1.0}), 1) == 0.0


def test_the_issues_figures_come_out():
    """SmolLM2-135M at 2 threads (issue 23): a batch of 9 costs 4.38 plain steps in Q4_1, 3.11 in F16; K=8 pays
    from about 80% and 70% acceptance."""
    assert break_even(Costs({1: 1.0, 9: 4.38}), 8) == pytest.approx(0.80, abs=0.01)
    assert break_even(Costs({1: 1.0, 9: 3.11}), 8) == pytest.approx(0.69, abs=0.01)


def test_stats_measure_the_costs_of_a_run():
    s = Stats()
    for i, (drafted, accepted, verify) in enumerate([(0, 0, 0.01), (0, 0, 0.01), (2, 1, 0.015), (2, 2, 0.015)]):
        s.update(StepEvent(i, Source.LOOKUP if drafted else Source.TARGET, 2, drafted, accepted, accepted + 1,
                           0.001 * drafted, verify, 0.1 * (i + 1)))
    c = s.costs()
    assert c is not None and c.verify == pytest.approx({1: 1.0, 3: 1.5})
    assert c.draft_token == pytest.approx(0.1)
    assert s.position_acceptance == [1.0, 0.5]
    assert predicted_speedup(c, s.position_acceptance, 2) == pytest.approx((1 + 1.0 + 0.5) / 1.7)


def test_bench_prints_the_cost_table():
    from workbench.bench import Config, Result, cost_lines

    plain = Result(Config("none", 0), verify={1: [0.010, 0.010, 0.011]})
    drafted = Result(Config("draft", 8), verify={1: [0.010], 5: [0.0322], 9: [0.0438, 0.0438]})
    lines = cost_lines([plain, drafted])
    assert lines[1].split() == ["batch", "width", "5", "9"]
    assert lines[2].split() == ["cost,", "steps", "3.22", "4.38"]
    assert lines[3].split() == ["K", "4", "8"]
    assert lines[4].split() == ["pays", "from", "78%", "80%"]  # the issue's Q4_1 figures
    assert cost_lines([Result(Config("draft", 8), verify={9: [0.04]})]) == [
        "verify cost: ? (no plain step and drafted step both measured)"]
