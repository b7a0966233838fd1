"""A bar chart of the part scores on the format's scale, with the likely range as error bars where the result has
intervals, and overall as a line where it shares the parts' scale."""

from matplotlib.figure import Figure

from .explain import OVERALL, Report, ScoreLine
from .words import words


BAR_COLOUR, OVERALL_COLOUR = "#4f6fa8", "#c0504d"


def error_bars(parts: list[ScoreLine]) -> list[list[float]] | None:
    """Matplotlib's `yerr` (below, above) of each scored part with an interval; None where no part has one."""
    if not any(line.interval is not None and line.score is not None for line in parts):
        return None
    below = [line.score - line.interval[0] if line.interval and line.score is not None else 0.0 for line in parts]
    above = [line.interval[1] - line.score if line.interval and line.score is not None else 0.0 for line in parts]
    return [below, above]


def part_scores_chart(report: Report) -> Figure:
    """The part scores as bars rising from the bottom of the scale; each scored bar is labelled with its score and
    level, an unscored part with the words for no score."""
    parts = [line for line in report.lines if line.target != OVERALL]
    low, high = parts[0].scale
    figure = Figure(figsize=(6.4, 3.4), dpi=100, layout="constrained")
    axes = figure.add_subplot()
    positions = list(range(len(parts)))
    heights = [0.0 if line.score is None else line.score - low for line in parts]
    yerr = error_bars(parts)
    axes.bar(positions, heights, bottom=low, color=BAR_COLOUR, width=0.6, yerr=yerr, capsize=6 if yerr else 0,
             error_kw={"ecolor": "#222222", "elinewidth": 1.2})
    for position, line in zip(positions, parts):
        label = words()["not_scored"] if line.score is None else f"{report.shown(line.score)} {line.level or ''}"
        top = low if line.score is None else (line.interval[1] if line.interval else line.score)
        axes.annotate(label.strip(), (position, top), xytext=(0, 4), textcoords="offset points", ha="center",
                      va="bottom", fontsize=9)
    overall = next((line for line in report.lines if line.target == OVERALL), None)
    if overall is not None and overall.score is not None and overall.scale == (low, high):
        axes.axhline(overall.score, color=OVERALL_COLOUR, linestyle="--", linewidth=1.2,
                     label=f"{overall.label} {report.shown(overall.score)}")
        axes.legend(loc="upper right", fontsize=8, frameon=False)
    axes.set_xticks(positions, [line.target for line in parts])
    axes.set_ylim(low, high + (high - low) * 0.12)
    axes.set_ylabel(words()["table"]["score"])
    title = words()["chart"]["title"] + (f" ({words()['chart']['error_bars']})" if yerr else "")
    axes.set_title(title, fontsize=10)
    axes.spines[["top", "right"]].set_visible(False)
    return figure
