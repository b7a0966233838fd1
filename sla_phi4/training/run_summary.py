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


__all__ = ["training_summary"]
