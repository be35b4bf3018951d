"""Live plots (plotext through textual-plotext): acceptance over steps, tokens/s over time with the
plain-decoding baseline, accepted length per step, acceptance by draft position.

Each plot redraws from its data on `replot()`, which the app calls a few times a second at most and
only when the data changed (after Dolphie's update_graphs; docs/architecture.md, "Events to views").
"""

from __future__ import annotations

from collections import Counter, deque

from textual.app import ComposeResult
from textual.containers import Grid
from textual_plotext import PlotextPlot

HISTORY = 400  # points kept per series


class PlotData:
    """What the plots show, fed from the app's event drain (no widget state here)."""

    def __init__(self) -> None:
        self.acceptance: deque[tuple[int, float]] = deque(maxlen=HISTORY)
        self.rate: deque[tuple[float, float]] = deque(maxlen=HISTORY)
        self.lengths: Counter[int] = Counter()
        self.positions: list[float] = []
        self.baseline: float | None = None
        self.marks: list[int] = []  # steps where settings changed
        self.time_marks: list[float] = []  # the same, in seconds since the run started
        self.version = 0  # bumped on every change: the plots redraw only when it moved

    def clear(self) -> None:
        self.__init__()  # type: ignore[misc]


class CachedPlot(PlotextPlot):
    """textual-plotext builds the whole figure again on every paint, even when only a notification passed
    over it; this keeps the built text until the data, the size or the theme change (the CPU is llama.cpp's)."""

    _version = 0
    _key: object = None
    _built: object = None

    def changed(self) -> None:
        self._version += 1
        if self.is_on_screen:  # a hidden plot is drawn from its data when it shows (see LiveText.set for why)
            self.refresh()

    def render(self):  # noqa: ANN201 (textual's RenderResult)
        key = (self.size, self.app.theme, self._version)
        if key != self._key:
            self._built, self._key = super().render(), key
        return self._built


class Plots(Grid):
    DEFAULT_CSS = """
    Plots { grid-size: 2 2; grid-gutter: 0 1; }
    PlotextPlot { min-height: 5; }
    """

    def compose(self) -> ComposeResult:
        for name in ("acceptance", "rate", "lengths", "positions"):
            yield CachedPlot(id=f"plot-{name}", classes="plot")

    def replot(self, data: PlotData) -> None:
        with self.app.batch_update():
            self._acceptance(data)
            self._rate(data)
            self._lengths(data)
            self._positions(data)

    @staticmethod
    def _ticks(widget: CachedPlot, plt, hi: float, whole: bool = False) -> None:  # noqa: ANN001 (plotext's Plot)
        """Round y ticks from 0 to hi (plotext's own split the range into thirds: 12.9, 19.4, 32.3), no more
        than the plot's rows hold two apart (two ticks on one row would leave plotext to pick one)."""
        rows = widget.size.height - 5  # title, frame, x ticks, x label
        ticks = nice_ticks(hi, whole, most=max(2, min(5, (rows + 2) // 2)))
        plt.ylim(0, ticks[-1])
        plt.yticks(ticks, [f"{t:g}" for t in ticks])

    def _prepare(self, name: str, title: str):  # noqa: ANN202 (plotext's untyped Plot)
        widget = self.query_one(f"#plot-{name}", CachedPlot)
        plt = widget.plt
        plt.clear_data()
        plt.clear_figure()
        plt.title(title)
        return widget, plt

    def _acceptance(self, data: PlotData) -> None:
        widget, plt = self._prepare("acceptance", "acceptance %")
        if data.acceptance:
            x, y = zip(*data.acceptance, strict=True)
            plt.plot(x, y, marker="braille")
            self._ticks(widget, plt, 100)
            plt.xlabel("step")
            for step in data.marks:
                if x[0] <= step <= x[-1]:
                    plt.vline(step)
        widget.changed()

    def _rate(self, data: PlotData) -> None:
        widget, plt = self._prepare("rate", "tokens/s" + (" (line: plain)" if data.baseline else ""))
        if data.rate:
            x, y = zip(*data.rate, strict=True)
            plt.plot(x, y, marker="braille")
            if data.baseline:
                plt.hline(data.baseline)
            for t in data.time_marks:
                if x[0] <= t <= x[-1]:
                    plt.vline(t)
            self._ticks(widget, plt, max(max(y), data.baseline or 0) * 1.05 + 1)
            plt.xlabel("seconds")
        widget.changed()

    def _lengths(self, data: PlotData) -> None:
        widget, plt = self._prepare("lengths", "accepted/step")
        if data.lengths:
            keys = sorted(data.lengths)
            plt.bar([str(k) for k in keys], [data.lengths[k] for k in keys])
            self._ticks(widget, plt, max(data.lengths.values()), whole=True)
            plt.xlabel("tokens accepted in a step (steps)")
        widget.changed()

    def _positions(self, data: PlotData) -> None:
        widget, plt = self._prepare("positions", "accept % by position")
        if data.positions:
            plt.bar([str(i + 1) for i in range(len(data.positions))], [100 * p for p in data.positions])
            self._ticks(widget, plt, 100)
            plt.xlabel("draft position")
        widget.changed()


def nice_ticks(hi: float, whole: bool = False, most: int = 5) -> list[float]:
    """0, step, 2*step ... up to the first tick at or above hi, step 1, 2, 2.5 or 5 times a power of ten,
    at most `most` ticks (whole numbers only when `whole`)."""
    import math

    hi = max(hi, 1.0)
    for exponent in range(math.floor(math.log10(hi / most)) - 1, 12):
        for m in (1, 2, 2.5, 5):
            step = m * 10 ** exponent
            if whole and step != int(step):
                continue
            if math.ceil(hi / step) + 1 <= most:
                return [round(i * step, 6) for i in range(math.ceil(hi / step - 1e-9) + 1)]
    return [0.0, hi]
