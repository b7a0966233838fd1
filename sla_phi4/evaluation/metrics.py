"""The official S&I metrics, through the project's `evaluate` module (hub_card/sla_scoring), loaded once."""

from functools import lru_cache

import evaluate
import numpy as np

from sla_phi4.resources import package_file


METRIC_PATH = str(package_file("sla_phi4.hub_card", "sla_scoring"))


@lru_cache(maxsize=1)
def _metric():
    return evaluate.load(METRIC_PATH)


def official_metrics(predictions, references, within=(0.5, 1.0)) -> dict:
    """rmse, pcc, src, krc, within_{t} for each threshold t of `within` (percent, strict <; S&I: within_0.5 and
    within_1.0) and count; None/NaN references left out."""
    predictions = [float(value) for value in np.asarray(predictions, dtype=np.float64)]
    references = [None if value is None else float(value) for value in references]
    return _metric().compute(predictions=predictions, references=references, within=list(within))


def within_keys(report_metrics: dict) -> list[str]:
    """The agreement keys (`within_0.5`, ...) of a metric table, in threshold order."""
    keys = {key for values in report_metrics.values() for key in values if key.startswith("within_")}
    return sorted(keys, key=lambda key: float(key.removeprefix("within_")))
