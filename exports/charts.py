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
OPEN_COLOR = "#cfd8dc"


@dataclass(frozen=True)
class Bar:
    label: str
    done: int
    total: int


def _figure_class() -> type[Figure]:
    """matplotlib with numpy and Pillow is ~28 MB: imported when the first chart is drawn, not
    at start (bench/footprint.py)."""
    import matplotlib

    matplotlib.use("Agg")  # headless: no display on servers
    from matplotlib.figure import Figure

    return Figure


def _shorten(label: str, limit: int = 32) -> str:
    label = " ".join(label.split())
    return label if len(label) <= limit else label[: limit - 1] + "…"


def progress_chart(bars: Sequence[Bar], *, title: str, done_label: str, open_label: str) -> bytes:
    """Horizontal stacked bars (done / not yet) with «done of total» at each bar; PNG bytes."""
    shown = list(bars)[:MAX_BARS]
    height = 1.6 + 0.42 * max(1, len(shown))
    figure = _figure_class()(figsize=(8, height), dpi=110)
    axes = figure.subplots()
    labels = [_shorten(bar.label) for bar in shown]
    done = [bar.done for bar in shown]
    rest = [max(0, bar.total - bar.done) for bar in shown]
    positions = list(range(len(shown)))
    axes.barh(positions, done, color=DONE_COLOR, label=done_label)
    axes.barh(positions, rest, left=done, color=OPEN_COLOR, label=open_label)
    for y, bar in zip(positions, shown, strict=True):
        share = f"{round(100 * bar.done / bar.total)}%" if bar.total else "—"
        axes.text(
            bar.total + 0.1, y, f" {bar.done}/{bar.total} · {share}", va="center", fontsize=8
        )
    axes.set_yticks(positions, labels=labels, fontsize=8)
    axes.invert_yaxis()
    axes.set_title(_shorten(title, 80), fontsize=10)
    axes.spines[["top", "right"]].set_visible(False)
    widest = max((bar.total for bar in shown), default=1) or 1
    axes.set_xlim(0, widest * 1.25)
    # The default locator is a MaxNLocator, which takes integer=; the stubs type it as Locator.
    axes.xaxis.get_major_locator().set_params(integer=True)  # type: ignore[call-arg]
    axes.legend(loc="upper center", bbox_to_anchor=(0.5, -0.12), ncol=2, fontsize=8, frameon=False)
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return buffer.getvalue()
