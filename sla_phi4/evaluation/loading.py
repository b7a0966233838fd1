"""A checkpoint's model, loaded where it will score: the process's accelerator when there is one.

Light to import (torch and the model code load when a model does), so that command lines can offer `DTYPE_NAMES`.
"""

DTYPE_NAMES = ("auto", "bfloat16", "float32")


def scoring_dtype(name: str):
    """The `dtype` argument of `from_pretrained` for a `--dtype` name: `auto` keeps the checkpoint's own dtypes (a
    model scores at the precision it was saved in); the head, the APP classifier and projector, and LoRA are float32
    in any case."""
    if name not in DTYPE_NAMES:
        raise ValueError(f"dtype must be one of {', '.join(DTYPE_NAMES)}, got {name!r}.")
    if name == "auto":
        return "auto"
    import torch

    return getattr(torch, name)


def load_scoring_model(checkpoint: str, device, dtype: str = "auto"):
    """The `SLAForSessionScoring` of `checkpoint` in eval mode on `device`: straight onto an accelerator (no copy in
    host memory first), in the checkpoint's dtypes unless `dtype` says otherwise (see `scoring_dtype`)."""
    import torch

    from modeling_sla import SLAForSessionScoring

    device = torch.device(device)
    placement = {} if device.type == "cpu" else {"device_map": device}
    return SLAForSessionScoring.from_pretrained(checkpoint, dtype=scoring_dtype(dtype), **placement).eval()


__all__ = ["DTYPE_NAMES", "load_scoring_model", "scoring_dtype"]
