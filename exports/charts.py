"""PNG charts for /status, rendered headless with matplotlib's Agg backend. No Telegram here."""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from matplotlib.figure import Figure

MAX_BARS = 40
DONE_COLOR = "#2e7d32"
REPORTED_COLOR = "#f9a825"
OPEN_COLOR = "#cfd8dc"
# Sized for a phone: Telegram shows a photo about 330 px wide, so the 960 px image is shrunk
# to a third; 13-point text at 160 dpi (29 px) still reads at ~10 px there. (It was 880 px
# with 8-point text: ~5 px on a phone.)
WIDTH_INCHES = 6.0
DPI = 160
FONT = 13
LABEL_CHARS = 22


@dataclass(frozen=True)
class Bar:
    """One row: `done` of `total` activities done; `reported` of them have any report (done
    ones included). `total` 0: the school has no roadmap yet."""

    label: str
    done: int
    total: int
    reported: int = 0


@dataclass(frozen=True)
class ChartLabels:
    done: str
    reported: str
    open: str
    no_roadmap: str


def _figure_class() -> type[Figure]:
    """matplotlib with numpy and Pillow is ~28 MB: imported when the first chart is drawn, not
    at start (bench/footprint.py)."""
    import matplotlib

    matplotlib.use("Agg")  # headless: no display on servers
    from matplotlib.figure import Figure

    return Figure


def _shorten(label: str, limit: int = LABEL_CHARS) -> str:
    label = " ".join(label.split())
    return label if len(label) <= limit else label[: limit - 1] + "…"


def progress_chart(bars: Sequence[Bar], *, title: str, labels: ChartLabels) -> bytes:
    """Horizontal stacked bars — done, reported but not done, not yet — with «done of total»
    at each bar (the figure and the green part count the same thing); PNG bytes."""
    shown = list(bars)[:MAX_BARS]
    height = 1.6 + 0.55 * max(1, len(shown))
    figure = _figure_class()(figsize=(WIDTH_INCHES, height), dpi=DPI)
    axes = figure.subplots()
    positions = list(range(len(shown)))
    done = [bar.done for bar in shown]
    reported = [max(0, bar.reported - bar.done) for bar in shown]
    rest = [max(0, bar.total - max(bar.done, bar.reported)) for bar in shown]
    started = [d + r for d, r in zip(done, reported, strict=True)]
    axes.barh(positions, done, color=DONE_COLOR, label=labels.done)
    if any(reported):
        axes.barh(positions, reported, left=done, color=REPORTED_COLOR, label=labels.reported)
    axes.barh(positions, rest, left=started, color=OPEN_COLOR, label=labels.open)
    for y, bar in zip(positions, shown, strict=True):
        if bar.total:
            note = f" {bar.done}/{bar.total} · {round(100 * bar.done / bar.total)}%"
        else:
            note = f" {labels.no_roadmap}"
        axes.text(bar.total + 0.1, y, note, va="center", fontsize=FONT - 2)
    axes.set_yticks(positions, labels=[_shorten(bar.label) for bar in shown], fontsize=FONT - 1)
    axes.invert_yaxis()
    axes.set_title(_shorten(title, 40), fontsize=FONT)
    axes.spines[["top", "right"]].set_visible(False)
    axes.tick_params(axis="x", labelsize=FONT - 3)
    widest = max((bar.total for bar in shown), default=1) or 1
    axes.set_xlim(0, widest * 1.45)
    # The default locator is a MaxNLocator, which takes integer=; the stubs type it as Locator.
    axes.xaxis.get_major_locator().set_params(integer=True)  # type: ignore[call-arg]
    axes.legend(
        loc="upper center",
        bbox_to_anchor=(0.5, -0.35 / height - 0.04),
        ncol=1,
        fontsize=FONT - 2,
        frameon=False,
    )
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", bbox_inches="tight", pad_inches=0.15)
    return buffer.getvalue()
