"""Live plots (plotext through textual-plotext): acceptance over steps, tokens/s over time with the
plain-decoding baseline, accepted length per step, acceptance by draft position.

Each plot redraws from its data on `replot()`, which the app calls a few times a second at most and
only when the data changed (after Dolphie's update_graphs; docs/architecture.md, "Events to views").
"""

from __future__ import annotations

import math
from collections import Counter, deque

from textual.app import ComposeResult
from textual.containers import Grid
from textual_plotext import PlotextPlot

from ...engine.stats import Stats

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
        self.mark_labels: list[str] = []  # what changed there, as the stream marks it (K=2)
        self.version = 0  # bumped on every change: the plots redraw only when it moved
        self.stats: Stats | None = None  # the run's, for the payoff page (widgets/payoff.py)

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
    top = 0.0  # the y axis' top of the plot _ticks last set up
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

    def _ticks(self, widget: CachedPlot, plt, hi: float, whole: bool = False) -> int:  # noqa: ANN001 (plotext's Plot)
        """Round y ticks from 0 to hi (plotext's own split the range into thirds: 12.9, 19.4, 32.3), no more
        than the plot's rows hold two apart (two ticks on one row would leave plotext to pick one). Returns
        the columns left for the data, inside the frame and the y tick labels."""
        rows = widget.size.height - 5  # title, frame, x ticks, x label
        ticks = nice_ticks(hi, whole, most=max(2, min(5, (rows + 2) // 2)))
        labels = [tick_label(t) for t in ticks]
        plt.ylim(0, ticks[-1])
        self.top = ticks[-1]  # the y axis' top, for labels drawn at the top of the plot
        plt.yticks(ticks, labels)
        return widget.size.width - max(map(len, labels)) - 2  # the labels, the axis and the right frame

    @staticmethod
    def _xticks(plt, lo: float, hi: float, columns: int, whole: bool = False) -> None:  # noqa: ANN001
        """Round x ticks over lo..hi, as many as fit apart (plotext's own are the range split evenly:
        1.0 3.2 5.5 7.8 10.0 steps, 0.02 0.14 0.26 seconds)."""
        if hi <= lo:  # one point: its own tick, and plotext's range around it
            plt.xticks([lo], [tick_label(lo)])
            return
        ticks = axis_ticks(lo, hi, columns, whole)
        plt.xlim(lo, hi)
        plt.xticks(ticks, [tick_label(t) for t in ticks])

    @staticmethod
    def _categories(plt, categories: range, values: list[float], columns: int) -> None:  # noqa: ANN001
        """Bars over whole-number categories, an empty one kept in its place, each labelled by its number (or
        every 2nd, 5th ... when the labels would not fit). Given strings, plotext numbers the bars 1..n and
        labels what it has room for (1 4 7 10 13 18), and a missing category simply is not there."""
        # half a category wide: at five columns a category, plotext's default 0.8 runs neighbours into one bar
        plt.bar(list(categories), values, width=0.5)
        # half a bar's room either side
        Plots._xticks(plt, categories[0] - 0.5, categories[-1] + 0.5, columns, whole=True)

    @staticmethod
    def _changes(plt, at: list[float], labels: list[str], lo: float, hi: float, top: float) -> None:  # noqa: ANN001
        """A vertical line where the settings changed, labelled with what changed (K=2) at its top."""
        for x, label in zip(at, labels, strict=False):
            if lo <= x <= hi:
                plt.vline(x)
                plt.text(label, x, top, alignment="left")

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
            columns = self._ticks(widget, plt, 100)
            self._xticks(plt, x[0], x[-1], columns, whole=True)
            plt.xlabel("step")
            self._changes(plt, data.marks, data.mark_labels, x[0], x[-1], 100)
        widget.changed()

    def _rate(self, data: PlotData) -> None:
        widget, plt = self._prepare("rate", "tokens/s" + (" (line: plain)" if data.baseline else ""))
        if data.rate:
            x, y = zip(*data.rate, strict=True)
            plt.plot(x, y, marker="braille")
            if data.baseline:
                plt.hline(data.baseline)
            columns = self._ticks(widget, plt, max(max(y), data.baseline or 0) * 1.05 + 1)
            self._changes(plt, data.time_marks, data.mark_labels, x[0], x[-1], self.top)
            self._xticks(plt, x[0], x[-1], columns)
            plt.xlabel("seconds")
        widget.changed()

    def _lengths(self, data: PlotData) -> None:
        widget, plt = self._prepare("lengths", "steps by tokens accepted")
        if data.lengths:
            columns = self._ticks(widget, plt, max(data.lengths.values()), whole=True)
            # from 0 (a step whose whole draft was refused) to the most accepted, the empty ones kept
            categories = range(0, max(data.lengths) + 1)
            self._categories(plt, categories, [data.lengths[k] for k in categories], columns)
            plt.xlabel("tokens accepted")  # plotext drops a label wider than the plot (24 columns at 80)
        widget.changed()

    def _positions(self, data: PlotData) -> None:
        widget, plt = self._prepare("positions", "accept % by position")
        if data.positions:
            columns = self._ticks(widget, plt, 100)
            self._categories(plt, range(1, len(data.positions) + 1), [100 * p for p in data.positions], columns)
            plt.xlabel("draft position")
        widget.changed()


def nice_ticks(hi: float, whole: bool = False, most: int = 5) -> list[float]:
    """0, step, 2*step ... up to the first tick at or above hi, step 1, 2, 2.5 or 5 times a power of ten,
    at most `most` ticks (whole numbers only when `whole`)."""
    hi = max(hi, 1.0)
    for exponent in range(math.floor(math.log10(hi / most)) - 1, 12):
        for m in (1, 2, 2.5, 5):
            step = m * 10 ** exponent
            if whole and step != int(step):
                continue
            if math.ceil(hi / step) + 1 <= most:
                return [round(i * step, 6) for i in range(math.ceil(hi / step - 1e-9) + 1)]
    return [0.0, hi]


def axis_ticks(lo: float, hi: float, columns: int, whole: bool = False) -> list[float]:
    """The multiples of the smallest round step (1, 2 or 5 times a power of ten; whole numbers only when
    `whole`) that lie in lo..hi, drawn across `columns`, that leave about three spaces between labels (closer,
    0.05 0.1 0.15 reads as one number); one space will do when three would leave a single tick."""
    span = hi - lo
    if span <= 0:
        return [lo]
    kept = [lo]  # what a plot too narrow for any spacing shows: one tick
    two: list[float] = []  # the last two or more ticks that fit a space apart, should three spaces leave one
    for exponent in range(math.floor(math.log10(span)) - 2, 16):
        for m in (1, 2, 5):
            step = m * 10.0 ** exponent
            if whole and step < 1:
                continue
            first, last = math.ceil(lo / step - 1e-9), math.floor(hi / step + 1e-9)
            ticks = [round(i * step, 6) for i in range(first, last + 1)]
            if not ticks:  # the step outgrew the range: the last single tick it had
                return two or kept
            apart = columns * step / span - max(len(tick_label(t)) for t in ticks)  # columns between labels
            if len(ticks) == 1:
                return two or ticks
            if apart >= 3:
                return ticks
            if apart >= 1:
                two = ticks
            kept = ticks[:1]
    return two or kept


def tick_label(value: float) -> str:
    """A tick's number as short as it is: 3, 0.25, 1200 (no 3.0, no 1.2e+03)."""
    return f"{value:.6f}".rstrip("0").rstrip(".") or "0"
