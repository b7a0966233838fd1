"""What a finished training run says about itself, from the Trainer's log history: the figures the ablations
compare (trainable parameters, training loss, seconds per step)."""

from transformers import Trainer


def training_summary(trainer: Trainer) -> dict:
    """`trainable_parameters`; `train_loss` (the last epoch's mean training loss, the masked MSE in stage sla) and
    `train_loss_by_epoch`; `seconds_per_step` (the median step's forward, backward and update, from `StepTimer`);
    `steps`."""
    history = trainer.state.log_history
    losses = [entry["loss"] for entry in history if "loss" in entry]
    timed = [entry for entry in history if "train_seconds_per_step" in entry]
    model = getattr(trainer.model, "sla", trainer.model)  # stage app trains a wrapper around the model
    return {
        "trainable_parameters": sum(p.numel() for p in model.parameters() if p.requires_grad),
        "train_loss": losses[-1] if losses else None,
        "train_loss_by_epoch": losses,
        "seconds_per_step": timed[-1]["train_seconds_per_step"] if timed else None,
        "steps": trainer.state.global_step,
    }


def best_evaluation(history: list[dict], metric: str, greater_is_better: bool) -> dict | None:
    """The evaluation entry of the log history with the best `metric` (`eval_` prefixed), or None."""
    key = metric if metric.startswith("eval_") else f"eval_{metric}"
    entries = [entry for entry in history if key in entry and entry[key] is not None]
    if not entries:
        return None
    return (max if greater_is_better else min)(entries, key=lambda entry: entry[key])


def final_line(trainer: Trainer, args) -> str:
    """What a run did, in one line: the stage, where the model was saved, and the best epoch with its dev figures
    (those of the target that picks the best epoch: RMSE, PCC and the sessions they come from)."""
    saved = f"sla train: stage {args.stage} saved to {args.output_dir}"
    metric = args.metric_for_best_model.removeprefix("eval_")
    best = best_evaluation(trainer.state.log_history, metric, bool(args.greater_is_better))
    if best is None:
        return f"{saved} after {trainer.state.epoch or 0:g} epochs; no dev evaluation (no best epoch to pick)."
    target = metric.rsplit("_", 1)[0]
    figures = [f"{target} {name.upper()} {best[f'eval_{target}_{name}']:.3f}" for name in ("rmse", "pcc")
               if isinstance(best.get(f"eval_{target}_{name}"), float)]
    figures = figures or [f"{metric} {best['eval_' + metric]:.3f}"]
    count = best.get(f"eval_{target}_count")
    return (f"{saved}; best epoch {best['epoch']:g} of {trainer.state.epoch:g} by {metric}: dev {', '.join(figures)}"
            + (f" ({count} sessions)" if count is not None else "") + ".")


__all__ = ["best_evaluation", "final_line", "training_summary"]
