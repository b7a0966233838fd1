"""Length-aware training batches (`--train_sampling_strategy group_by_length` or `batch_rebalance`): each session's
decoder tokens reach transformers' samplers, grouped batches carry less padding, evaluation keeps its order, and a
run that has no lengths to group by is refused before anything loads."""

import pytest
import torch
from torch.utils.data import SequentialSampler

from sla_phi4.training import DataArguments, ModelArguments, SLATrainingArguments, train
from sla_phi4.training.length_sampling import (
    SessionTrainer,
    check_length_strategy,
    padding_by_strategy,
    padding_fraction,
)


def test_padding_fraction_counts_the_padded_pass():
    lengths = [10, 20, 30, 40]
    assert padding_fraction(lengths, [[0, 1], [2, 3]]) == pytest.approx(1 - 100 / (2 * 20 + 2 * 40))
    assert padding_fraction(lengths, [[0], [1], [2], [3]]) == 0


def test_padding_by_strategy_draws_the_samplers_orders():
    lengths = [100 + 37 * (index * 7919 % 101) for index in range(400)]
    padding = padding_by_strategy(lengths, batch_size=4, seed=3)
    assert set(padding) == {"random", "group_by_length"} and padding["group_by_length"] < padding["random"] / 3
    assert padding == padding_by_strategy(lengths, batch_size=4, seed=3)


def trainer_for(lengths: list[int], strategy: str, tmp_path, batch_size: int = 4) -> SessionTrainer:
    args = SLATrainingArguments(output_dir=str(tmp_path), train_sampling_strategy=strategy, use_cpu=True,
                                per_device_train_batch_size=batch_size, report_to=[], seed=0)
    rows = [{"session_id": f"S{index}"} for index in range(len(lengths))]  # what the sampler never reads
    return SessionTrainer(model=torch.nn.Linear(1, 1), args=args, train_dataset=rows, eval_dataset=rows,
                          session_lengths=lengths)


def batches_of(trainer: SessionTrainer, batch_size: int = 4) -> list[list[int]]:
    sampler = trainer._get_train_sampler()
    first = next(iter(sampler))
    if isinstance(first, list):  # batch_rebalance yields whole batches
        return list(sampler)
    order = list(sampler)
    return [order[start : start + batch_size] for start in range(0, len(order), batch_size)]


def test_group_by_length_batches_sessions_of_similar_length(tmp_path):
    """512 sessions of 0.6-1.2 x a real session's 4,068 tokens, batches of 4: every session once, and grouped batches
    pad far less than random ones. (transformers sorts megabatches of up to 50 batches, fewer on a small set: a
    quarter of the set each.)"""
    generator = torch.Generator().manual_seed(1)
    lengths = (4068 * (0.6 + 0.6 * torch.rand(512, generator=generator))).int().tolist()
    grouped = batches_of(trainer_for(lengths, "group_by_length", tmp_path / "g"))
    shuffled = batches_of(trainer_for(lengths, "random", tmp_path / "r"))
    for batches in (grouped, shuffled):
        assert sorted(index for batch in batches for index in batch) == list(range(512))
    grouped_padding, random_padding = padding_fraction(lengths, grouped), padding_fraction(lengths, shuffled)
    print(f"padding: grouped {grouped_padding:.3f}, random {random_padding:.3f}")
    assert grouped_padding < random_padding / 3


def test_batch_rebalance_gets_the_lengths_too(tmp_path):
    lengths = [100 * (index % 7 + 1) for index in range(32)]
    batches = batches_of(trainer_for(lengths, "batch_rebalance", tmp_path))
    assert sorted(index for batch in batches for index in batch) == list(range(32))


def test_evaluation_keeps_its_order_under_a_length_strategy(tmp_path):
    trainer = trainer_for([5, 50, 500, 5000], "group_by_length", tmp_path)
    sampler = trainer._get_eval_sampler(trainer.eval_dataset)
    assert isinstance(sampler, SequentialSampler) and list(sampler) == [0, 1, 2, 3]


@pytest.mark.parametrize(("stage", "cache_encoders"), [("app", True), ("sla", False)])
def test_a_run_without_session_lengths_is_refused(stage, cache_encoders):
    with pytest.raises(ValueError, match="group_by_length groups sessions by their decoder tokens"):
        check_length_strategy("group_by_length", stage, cache_encoders)
    check_length_strategy("random", stage, cache_encoders)


def test_stage_sla_trains_in_length_grouped_batches(tiny_checkpoint, tmp_path, monkeypatch):
    """`train(..., train_sampling_strategy="group_by_length")` end to end: the sessions' cached token counts reach
    transformers' length-grouped sampler, and the training steps get every session once, with those lengths."""
    from sla_phi4.data.synthetic import make_synthetic_corpus

    corpus = tmp_path / "kit"
    make_synthetic_corpus(corpus, sessions=20, seed=4, duration_scale=0.05, progress=False)
    seen = []
    step = SessionTrainer.training_step

    def recording(self, model, inputs, *args, **kwargs):
        seen.append(inputs["attention_mask"].sum(1).tolist())
        return step(self, model, inputs, *args, **kwargs)

    monkeypatch.setattr(SessionTrainer, "training_step", recording)
    args = SLATrainingArguments(stage="sla", output_dir=str(tmp_path / "out"), num_train_epochs=1, seed=0,
                                per_device_train_batch_size=4, per_device_eval_batch_size=4, use_cpu=True,
                                disable_tqdm=True, dataloader_pin_memory=False, save_strategy="no",
                                eval_strategy="no", load_best_model_at_end=False,
                                train_sampling_strategy="group_by_length")
    trainer = train(ModelArguments(checkpoint=str(tiny_checkpoint)), DataArguments(corpus_root=str(corpus)), args)
    assert sorted(length for batch in seen for length in batch) == sorted(trainer.session_lengths)
    sampler = trainer._get_train_sampler()
    assert type(sampler).__name__ == "LengthGroupedSampler" and sampler.lengths == trainer.session_lengths
