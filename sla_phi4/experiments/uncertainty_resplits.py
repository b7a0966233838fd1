"""Repeated calibration splits: how much of a coverage measured once is the luck of one calibration split.

A conformal interval covers `coverage` of new sessions on average over calibration splits; the coverage of any one
split varies around it (at 280 calibration sessions and 90 %, by about ±4 points over 5-95 % of splits). Pooling
the held-out sessions (dev and eval) and drawing many random calibration and judgement splits of the study's own
sizes gives, per method and target, the mean coverage and the 5-95 % range over splits, beside the mean width, the
PRR and the kept sessions' RMSE gain at the referred share.
"""

import numpy as np
from tqdm.auto import tqdm

from sla_phi4.evaluation.uncertainty import (
    METHODS,
    Evidence,
    apply_intervals,
    difficulties,
    fit_intervals,
    referral_gain,
    rejection_curve,
)


def pooled(first: Evidence, second: Evidence) -> Evidence:
    """Two sets of evidence as one (the same model and format)."""
    app = None if first.app_probs is None else np.concatenate([first.app_probs, second.app_probs])
    return Evidence(first.session_ids + second.session_ids, np.concatenate([first.predictions, second.predictions]),
                    np.concatenate([first.references, second.references]), app,
                    np.concatenate([first.missing_answers, second.missing_answers]),
                    np.concatenate([first.flagged, second.flagged]))


def judged_split(calibration: dict, evidence: Evidence, test_format, band_values: list[float],
                 refer: float) -> dict:
    """Per target the coverage and mean width; on overall the PRR and the RMSE gain at `refer`."""
    names = test_format.score_names
    lows, highs = apply_intervals(calibration, evidence, test_format, band_values)
    present = np.isfinite(evidence.references) & np.isfinite(lows)
    covered = (evidence.references >= lows) & (evidence.references <= highs)
    result = {"coverage": {name: float(covered[present[:, column], column].mean())
                           for column, name in enumerate(names) if present[:, column].any()},
              "mean_width": float((highs - lows)[present].mean())}
    column = names.index("overall") if "overall" in names else 0
    kept = present[:, column]
    curve = rejection_curve(difficulties(calibration, evidence, test_format, band_values)[kept],
                            (evidence.predictions - evidence.references)[kept, column], random_draws=50)
    result.update(prr=curve["prr"], rmse_reduction_at_refer=referral_gain(curve, refer))
    return result


def summarise(values: list[float]) -> dict:
    return {"mean": float(np.mean(values)), "p05": float(np.percentile(values, 5)),
            "p95": float(np.percentile(values, 95)), "sd": float(np.std(values, ddof=1))}


def resplit_study(dev: Evidence, held_out: Evidence, test_format, band_values: list[float], coverage: float,
                  refer: float, splits: int, seed: int = 0) -> dict:
    """Every method calibrated on `splits` random draws of `len(dev.session_ids)` of the pooled sessions and judged
    on the rest; per method the spread over splits of each target's coverage, the mean width, the PRR and the gain."""
    sessions = pooled(dev, held_out)
    size = len(dev.session_ids)
    rng = np.random.default_rng(seed)
    runs = {method: [] for method in METHODS}
    for _ in tqdm(range(splits), desc="Random calibration splits", unit="split"):
        order = rng.permutation(len(sessions.session_ids))
        calibrate_on, judge_on = sessions.subset(order[:size]), sessions.subset(order[size:])
        for method in METHODS:
            calibration = fit_intervals(calibrate_on, test_format, band_values, method, coverage, refer, seed)
            runs[method].append(judged_split(calibration, judge_on, test_format, band_values, refer))
    summary = {}
    for method, judged in runs.items():
        targets = list(judged[0]["coverage"])
        summary[method] = {"coverage": {name: summarise([run["coverage"][name] for run in judged]) for name in targets},
                           **{key: summarise([run[key] for run in judged])
                              for key in ("mean_width", "prr", "rmse_reduction_at_refer")},
                           "within_87_93": float(np.mean([all(0.87 <= run["coverage"][name] <= 0.93
                                                              for name in targets) for run in judged]))}
    return {"splits": splits, "calibration_sessions": size, "judged_sessions": len(sessions.session_ids) - size,
            "methods": summary}


def format_markdown(study: dict) -> str:
    methods = study["methods"]
    names = list(next(iter(methods.values()))["coverage"])
    total = study["calibration_sessions"] + study["judged_sessions"]
    caption = (f"Over {study['splits']} random splits of the {total} held-out sessions "
               f"({study['calibration_sessions']} to calibrate, {study['judged_sessions']} to judge): "
               f"mean (5-95 % of splits).")
    header = ("| method | " + " | ".join(f"{name} coverage" for name in names)
              + " | mean width | PRR | overall RMSE reduction, referred share | splits with every target in 87-93 % |")
    lines = [caption, "", header, "|---" * (len(names) + 5) + "|"]
    for method, values in methods.items():
        cells = [spread_cell(values["coverage"][name]) for name in names]
        lines.append(f"| {method} | " + " | ".join(cells) + f" | {spread_cell(values['mean_width'])} | "
                     f"{spread_cell(values['prr'], 2)} | {spread_cell(values['rmse_reduction_at_refer'], 3)} | "
                     f"{values['within_87_93']:.0%} |")
    return "\n".join(lines)


def spread_cell(stat: dict, digits: int = 3) -> str:
    return f"{stat['mean']:.{digits}f} ({stat['p05']:.{digits}f}-{stat['p95']:.{digits}f})"


def plot(study: dict, coverage: float, path: str) -> None:
    """Each method's coverage per target over the splits (mean, 5-95 % range), over the 87-93 % band."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    methods = study["methods"]
    names = list(next(iter(methods.values()))["coverage"])
    figure, axis = plt.subplots(figsize=(7.5, 3.6))
    axis.axhspan(coverage - 0.03, coverage + 0.03, color="0.9", label="87-93 %")
    axis.axhline(coverage, color="grey", linestyle="--")
    width = 0.8 / len(methods)
    for index, (method, values) in enumerate(methods.items()):
        positions = np.arange(len(names)) + (index - (len(methods) - 1) / 2) * width
        stats = [values["coverage"][name] for name in names]
        means = np.array([stat["mean"] for stat in stats])
        errors = [means - [stat["p05"] for stat in stats], [stat["p95"] for stat in stats] - means]
        axis.errorbar(positions, means, yerr=errors, fmt="o", capsize=3, label=method)
    axis.set(xticks=range(len(names)), xticklabels=names, ylabel="coverage of the judged sessions",
             ylim=(0.8, 0.98), title=f"Coverage over {study['splits']} random calibration splits (mean, 5-95 %)")
    axis.legend(fontsize=7, loc="upper center", ncol=4)
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)


__all__ = ["format_markdown", "plot", "pooled", "resplit_study"]
