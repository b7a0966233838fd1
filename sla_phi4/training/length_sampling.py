"""Length-aware training batches of sessions: transformers' `--train_sampling_strategy group_by_length` (sessions of
similar length share a batch, so a padded batch wastes less) and `batch_rebalance` (balanced cost across processes).

The Trainer reads each example's length from an `input_ids` column or key; the training rows here are sessions, whose
token ids exist only once the processor (or the encoder cache) has made them. `SessionTrainer` hands those samplers
each session's decoder tokens, read from the encoder cache.
"""

import torch
from torch.utils.data import Dataset, SequentialSampler
from transformers import Trainer
from transformers.trainer_pt_utils import get_length_grouped_indices
from transformers.trainer_utils import has_length


LENGTH_STRATEGIES = ("group_by_length", "batch_rebalance")


class SessionLengths(Dataset):
    """What transformers' length-aware samplers read of a training set: per item, `{key: range(tokens)}`."""

    def __init__(self, lengths: list[int], key: str):
        self.lengths, self.key = list(lengths), key

    def __len__(self) -> int:
        return len(self.lengths)

    def __getitem__(self, index: int) -> dict:
        return {self.key: range(self.lengths[index])}


def cached_session_tokens(rows: list[dict], cache) -> list[int]:
    """Decoder tokens of each row's session, from the token ids in the encoder cache."""
    return [int(cache[row]["input_ids"].numel()) for row in rows]


def check_length_strategy(strategy: str, stage: str, cache_encoders: bool) -> None:
    """Refuses a length-aware strategy where sessions have no token counts to group by."""
    if strategy in LENGTH_STRATEGIES and (stage != "sla" or not cache_encoders):
        raise ValueError(
            f"--train_sampling_strategy {strategy} groups sessions by their decoder tokens, which the encoder cache "
            f"holds: it needs stage sla with --cache_encoders true (stage app trains on pooled states, which have no "
            f"length)."
        )


def padding_fraction(lengths: list[int], batches: list[list[int]]) -> float:
    """The share of a padded pass's tokens that are padding, over `batches` of indices into `lengths`."""
    padded = sum(len(batch) * max(lengths[index] for index in batch) for batch in batches)
    return 1 - sum(lengths[index] for batch in batches for index in batch) / padded


def padding_by_strategy(lengths: list[int], batch_size: int, seed: int = 0) -> dict[str, float]:
    """The padding share of one epoch of padded batches over sessions of `lengths`: in random order (the Trainer's
    default) and grouped by length as transformers' `group_by_length` sampler draws them."""
    generator = torch.Generator().manual_seed(seed)
    orders = {"random": torch.randperm(len(lengths), generator=generator).tolist(),
              "group_by_length": get_length_grouped_indices(lengths, batch_size, generator=generator)}
    return {name: padding_fraction(lengths, [order[start : start + batch_size]
                                             for start in range(0, len(order), batch_size)])
            for name, order in orders.items()}


class SessionTrainer(Trainer):
    """The Trainer, with each training session's decoder tokens for the length-aware sampling strategies.

    Args:
        session_lengths: decoder tokens of each item of `train_dataset`, in its order; None where they are unknown
            (the Trainer's own behaviour then applies).
    """

    def __init__(self, *args, session_lengths: list[int] | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self.session_lengths = session_lengths

    def _get_train_sampler(self, train_dataset=None):
        dataset = self.train_dataset if train_dataset is None else train_dataset
        if (self.args.train_sampling_strategy not in LENGTH_STRATEGIES or self.session_lengths is None
                or dataset is not self.train_dataset):
            return super()._get_train_sampler(train_dataset)
        key = self.processing_class.model_input_names[0] if self.processing_class is not None else "input_ids"
        return super()._get_train_sampler(SessionLengths(self.session_lengths, key))

    def _get_eval_sampler(self, eval_dataset):
        """Evaluation keeps its order whatever the strategy: in eval mode each session runs its own passes, so there
        is no padding to save (the Trainer would group evaluation sessions by length too)."""
        if eval_dataset is None or not has_length(eval_dataset):
            return None
        return SequentialSampler(eval_dataset) if self.args.world_size <= 1 else None


__all__ = [
    "LENGTH_STRATEGIES", "SessionLengths", "SessionTrainer", "cached_session_tokens", "check_length_strategy",
    "padding_by_strategy", "padding_fraction",
]
