"""Stage app: the APP classifier alone, trained on cached pooled Whisper states against the marks' half bands."""

import numpy as np
import torch
from torch import nn
from transformers import EvalPrediction

from modeling_sla import SLAForSessionScoring
from sla_phi4.training.distributed import is_main_process


class AcousticPriorTrainingModel(nn.Module):
    """Stage app: the APP classifier alone, on cached pooled Whisper states, with cross-entropy over bands."""

    def __init__(self, model: SLAForSessionScoring):
        super().__init__()
        if model.app is None:
            raise ValueError("Stage app needs a model with the APP (use_app=True).")
        self.sla = model
        model.set_trainable("app")

    def forward(self, app_pooled: torch.Tensor, app_labels: torch.Tensor | None = None):
        """`app_labels`: `(batch, num_targets)` band classes (-100 where absent); the loss is the mean cross-entropy
        over the marks present."""
        logits = self.sla.app.classify(app_pooled)
        loss = None
        if app_labels is not None:
            repeated = logits.unsqueeze(1).expand(-1, app_labels.shape[1], -1)
            loss = nn.functional.cross_entropy(repeated.reshape(-1, logits.shape[-1]), app_labels.reshape(-1),
                                               ignore_index=-100)
        return {"loss": loss, "logits": logits}


def app_metrics_function(band_values: list[float], columns: list[int]):
    """Accuracy and RMSE of the APP's expected band against the band of the marks in `columns` (the overall mark, or
    every mark of a test without one), whatever it trained on."""

    def compute(prediction: EvalPrediction) -> dict:
        logits = prediction.predictions[0] if isinstance(prediction.predictions, tuple) else prediction.predictions
        labels = prediction.label_ids[:, columns]
        present = labels != -100
        repeated = np.repeat(logits[:, None, :], len(columns), axis=1)
        probs = torch.tensor(repeated[present]).softmax(-1).numpy()
        expected = probs @ np.asarray(band_values)
        reference = np.asarray(band_values)[labels[present]]
        return {"app_accuracy": float((probs.argmax(-1) == labels[present]).mean()),
                "app_rmse": float(np.sqrt(((expected - reference) ** 2).mean()))}

    return compute


def judged_targets(score_names: list[str]) -> list[str]:
    """The marks the APP is judged on: overall, or every mark of a test without an overall mark."""
    return ["overall"] if "overall" in score_names else list(score_names)


def app_rows(train_rows: list[dict], eval_rows: list[dict], score_names: list[str], targets: str):
    """Stage app's sessions: in train those with a target mark (any mark, or overall), in eval those with a mark the
    APP is judged on (`judged_targets`). Says how many were left out."""
    if targets == "overall" and "overall" not in score_names:
        raise ValueError("--app_targets overall: this test format has no overall mark; use --app_targets all.")
    wanted = list(score_names) if targets == "all" else ["overall"]
    judged = judged_targets(score_names)
    kept_train = [row for row in train_rows if any(row.get(name) is not None for name in wanted)]
    kept_eval = [row for row in eval_rows if any(row.get(name) is not None for name in judged)]
    if is_main_process():
        print(f"Stage app trains on {'every mark' if targets == 'all' else 'the overall mark'}: left out "
              f"{len(train_rows) - len(kept_train)} train sessions without one, and {len(eval_rows) - len(kept_eval)} "
              f"eval sessions without a mark it is judged on ({', '.join(judged)}).", flush=True)
    return kept_train, kept_eval
