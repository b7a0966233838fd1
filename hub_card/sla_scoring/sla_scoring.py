"""Official Speak & Improve Challenge 2025 SLA scores as an `evaluate` metric.

Reproduces the kit's `scoring-tools/sla-tools/score-sla.py`: RMSE, Pearson (PCC), Spearman (SRC) and
Kendall (KRC, scipy's default tau-b) correlations, and the percentage of submissions predicted within 0.5
and within 1.0 of the reference (strict less-than).
"""

import math

import datasets
import evaluate
import numpy as np
from scipy import stats


_CITATION = """\
@article{qian2024sandi,
  author  = {Mengjie Qian and Kate Knill and Stefano Banno and Siyuan Tang and Penny Karanasou and
             Mark J. F. Gales and Diane Nicholls},
  title   = {{Speak \\& Improve Challenge 2025: Tasks and Baseline Systems}},
  journal = {arXiv preprint arXiv:2412.11985},
  year    = {2024},
  url     = {https://arxiv.org/abs/2412.11985}
}
@misc{knill2025sicorpus,
  author    = {Kate Knill and Diane Nicholls and Mark J. F. Gales and Mengjie Qian and Pawel Stroinski},
  title     = {{The Speak \\& Improve Corpus 2025: an L2 English Speech Corpus for Language Assessment and Feedback}},
  publisher = {Cambridge University Press \\& Assessment},
  year      = {2025},
  doi       = {10.17863/CAM.114333}
}
"""

_DESCRIPTION = """\
The spoken language assessment (SLA) scores of the Speak & Improve Challenge 2025, computed as the
challenge's official scoring tool (`score-sla.py`) does, on one predicted and one reference score per
submission (the kit scores the holistic `overall` mark on a 0-6 scale: 2.0 A2, 3.0 B1, 4.0 B2, 5.0 C1):

- `rmse`: root mean squared error (the primary metric);
- `pcc`: Pearson correlation; `src`: Spearman rank correlation; `krc`: Kendall rank correlation (tau-b,
  scipy's default, as in the official tool);
- `within_0.5` and `within_1.0`: percentage of submissions with |prediction - reference| < 0.5 and < 1.0
  (strict: a difference of exactly 0.5 is not within 0.5);
- `count`: the number of pairs scored.

Other tests' scales (the package's test formats) pass their own agreement thresholds as `within`, one and two
bands of their scale (e.g. `within=[1, 2]` on a 0-4 scale of whole points); the keys then name them
(`within_1.0`, `within_2.0`).

Pairs whose reference is None or NaN (a submission without a mark) are left out. The correlations are NaN
when fewer than two pairs remain or one side is constant. The official tool computes RMSE in float32
(torch); here everything is float64, which can differ in the seventh significant digit.
"""

_KWARGS_DESCRIPTION = """
Args:
    predictions (`list` of `float`): predicted scores, one per submission.
    references (`list` of `float` or `None`): reference scores; None or NaN entries are left out together
        with their predictions.
    within (`list` of `float`, *optional*, defaults to `[0.5, 1.0]`): the agreement thresholds (strict `<`).

Returns:
    rmse (`float`), pcc (`float`), src (`float`), krc (`float`): see the description.
    within_0.5 (`float`), within_1.0 (`float`): percentages (0-100) with |pred - ref| < 0.5 / < 1.0; one key
        `within_{threshold}` per threshold of `within`.
    count (`int`): number of (prediction, reference) pairs used.

Raises:
    ValueError: a prediction is None, NaN or infinite where its reference is present (the message names the
        index), a reference is infinite, or no pair is left.

Examples:
    >>> sla = evaluate.load("hub_card/sla_scoring")
    >>> results = sla.compute(predictions=[2.5, 3.0, 5.0, 4.0, 3.0], references=[2.0, 3.0, 4.0, 5.0, None])
    >>> {k: round(v, 4) for k, v in results.items()}
    {'rmse': 0.75, 'pcc': 0.7569, 'src': 0.8, 'krc': 0.6667, 'within_0.5': 25.0, 'within_1.0': 50.0, 'count': 4}
"""


def _is_missing(value):
    return value is None or (isinstance(value, float) and math.isnan(value))


def _correlation(function, refs, preds):
    if len(refs) < 2 or np.all(refs == refs[0]) or np.all(preds == preds[0]):
        return float("nan")
    return float(function(refs, preds)[0])


@evaluate.utils.file_utils.add_start_docstrings(_DESCRIPTION, _KWARGS_DESCRIPTION)
class SlaScoring(evaluate.Metric):
    """Speak & Improve 2025 SLA scores: RMSE, PCC, SRC, KRC, % within 0.5 and 1.0."""

    def _info(self):
        return evaluate.MetricInfo(
            module_type="metric",
            description=_DESCRIPTION,
            citation=_CITATION,
            inputs_description=_KWARGS_DESCRIPTION,
            features=datasets.Features(
                {"predictions": datasets.Value("float64"), "references": datasets.Value("float64")}
            ),
            homepage="https://speakandimprove.com/challenge",
            reference_urls=["https://arxiv.org/abs/2412.11985", "https://doi.org/10.17863/CAM.114333"],
        )

    def _compute(self, predictions, references, within=(0.5, 1.0)):
        if len(predictions) != len(references):
            raise ValueError(f"got {len(predictions)} predictions for {len(references)} references")
        thresholds = [float(threshold) for threshold in within]
        if not thresholds or not all(math.isfinite(t) and t > 0 for t in thresholds):
            raise ValueError(f"within must be positive thresholds, got {list(within)}")
        preds, refs = [], []
        for index, (pred, ref) in enumerate(zip(predictions, references)):
            if _is_missing(ref):
                continue  # a submission without a mark: left out, as the kit's reference files omit it
            ref = float(ref)
            if math.isinf(ref):
                raise ValueError(f"reference at index {index} is {ref}")
            if pred is None or not math.isfinite(float(pred)):
                raise ValueError(f"prediction at index {index} is {pred} but its reference is {ref}")
            preds.append(float(pred))
            refs.append(ref)
        if not refs:
            raise ValueError("no (prediction, reference) pair with a reference to score")

        preds = np.asarray(preds, dtype=np.float64)
        refs = np.asarray(refs, dtype=np.float64)
        diff = np.abs(preds - refs)
        # Strict `<` on the float64 difference, exactly as the official tool (`if diff < 0.5`), with no
        # tolerance. The kit's marks are half bands (parts) and means of four of them (overall), i.e.
        # multiples of 1/8, exact binary fractions, and so are differences between such scores: pred 4.5
        # against ref 4.0 gives exactly 0.5, which is NOT within 0.5. For arbitrary predictions near a
        # threshold the subtraction is exact as well (Sterbenz lemma: operands within a factor of two), so
        # the comparison decides on the true difference; a tolerance would only make results differ from
        # the official tool.
        return {
            "rmse": float(np.sqrt(np.mean((preds - refs) ** 2))),
            "pcc": _correlation(stats.pearsonr, refs, preds),
            "src": _correlation(stats.spearmanr, refs, preds),
            "krc": _correlation(stats.kendalltau, refs, preds),
            **{f"within_{threshold}": float(100.0 * np.count_nonzero(diff < threshold) / len(refs))
               for threshold in thresholds},
            "count": int(len(refs)),
        }
