"""The payoff page (F9): why the configuration pays or not on this machine, from the run's measured costs
(engine/payoff.py): what a verify batch costs per width in plain steps, the acceptance each K needs to pay,
the acceptance measured by position, and the speedup those predict per K beside the one measured."""

from __future__ import annotations

from textual.app import ComposeResult

from ...engine import payoff
from .plots import CachedPlot, PlotData, Plots

NAMES = ("cost", "speedup", "breakeven", "through")


class PayoffPlots(Plots):
    def compose(self) -> ComposeResult:
        for name in NAMES:
            yield CachedPlot(id=f"plot-{name}", classes="plot")

    def replot(self, data: PlotData) -> None:
        stats = data.stats
        costs = stats.costs() if stats is not None else None
        through = stats.position_acceptance if stats is not None else []
        with self.app.batch_update():
            self._cost(costs)
            self._speedup(data, costs, through)
            self._breakeven(costs, stats.acceptance if stats is not None and stats.n_drafted else None)
            self._through(through)

    def _cost(self, c: payoff.Costs | None) -> None:
        widget, plt = self._prepare("cost", "verify cost, steps" if c else "verify cost: ?")
        if c:
            widths = range(1, max(c.verify) + 1)
            columns = self._ticks(widget, plt, max(widths[-1], *c.verify.values()))
            self._categories(plt, widths, [c.verify.get(w, 0.0) for w in widths], columns)
            # what a batch would cost with no parallel gain: one plain step a token (0: a width not measured)
            plt.plot([1, widths[-1]], [1, widths[-1]], label="1 a token", marker="braille")
            plt.xlabel("batch width (drafted + 1; 0: not measured)")
        widget.changed()

    def _speedup(self, data: PlotData, c: payoff.Costs | None, through: list[float]) -> None:
        stats = data.stats
        measured = None
        if stats is not None and stats.n_emitted and data.baseline:
            measured = stats.tokens_per_second / data.baseline
        # short titles: plotext leaves out one wider than the plot (24 columns at 80)
        widget, plt = self._prepare("speedup", "speedup by K" if measured else "speedup by K, now ?")
        ks = [k for k in range(1, len(through) + 1) if c and payoff.predicted_speedup(c, through, k) is not None]
        if c and ks:
            ks_range = range(1, ks[-1] + 1)
            predicted = [payoff.predicted_speedup(c, through, k) or 0.0 for k in ks_range]
            columns = self._ticks(widget, plt, max(*predicted, measured or 0.0, 1.0) * 1.1)
            self._categories(plt, ks_range, predicted, columns)
            lo, hi = ks_range[0] - 0.5, ks_range[-1] + 0.5
            plt.plot([lo, hi], [1.0, 1.0], label="plain", marker="braille")
            if measured:
                plt.plot([lo, hi], [measured, measured], label=f"now {measured:.2f}x", marker="braille")
            plt.xlabel("K (drafted tokens)")
        widget.changed()

    def _breakeven(self, c: payoff.Costs | None, acceptance: float | None) -> None:
        widget, plt = self._prepare("breakeven", "% K needs to pay")
        if c:
            ks = [w - 1 for w in sorted(c.verify) if w > 1]
            if ks:
                ks_range = range(1, ks[-1] + 1)
                # 0: any acceptance pays (or the batch was not measured); 100: none can, the step costs K + 1 steps
                needed = [0.0 if c.step(k) is None else 100.0 if (b := payoff.break_even(c, k)) is None else 100 * b
                          for k in ks_range]
                columns = self._ticks(widget, plt, 100)
                self._categories(plt, ks_range, needed, columns)
                if acceptance is not None:
                    lo, hi = ks_range[0] - 0.5, ks_range[-1] + 0.5
                    plt.plot([lo, hi], [100 * acceptance] * 2, label="measured", marker="braille")
                plt.xlabel("K (100: never pays)")
        widget.changed()

    def _through(self, through: list[float]) -> None:
        widget, plt = self._prepare("through", "% accepted through")
        if through:
            columns = self._ticks(widget, plt, 100)
            self._categories(plt, range(1, len(through) + 1), [100 * a for a in through], columns)
            plt.xlabel("draft position")
        widget.changed()
