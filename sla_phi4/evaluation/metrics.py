"""The official S&I metrics, through the project's `evaluate` module (hub_card/sla_scoring), loaded once."""

from functools import lru_cache

import evaluate
import numpy as np

from sla_phi4.resources import package_file


METRIC_PATH = str(package_file("sla_phi4.hub_card", "sla_scoring"))


@lru_cache(maxsize=1)
def _metric():
    return evaluate.load(METRIC_PATH)


def official_metrics(predictions, references) -> dict:
    """rmse, pcc, src, krc, within_0.5, within_1.0 (percent, strict <) and count; None/NaN references left out."""
    predictions = [float(value) for value in np.asarray(predictions, dtype=np.float64)]
    references = [None if value is None else float(value) for value in references]
    return _metric().compute(predictions=predictions, references=references)
