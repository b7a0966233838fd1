"""`--drop_responses`: which responses a training session loses, and how truncated sessions reach the model (exactly
encoded through the session cache, never sliced out of the whole session's packed encoding)."""

import numpy as np
import pytest
import torch
from transformers import TrainerControl, TrainerState

from sla_phi4.data.session_truncation import without_responses
from sla_phi4.testing import make_session
from sla_phi4.testing.tiny_checkpoint import build_tiny_checkpoint
from sla_phi4.training import DataArguments, ModelArguments, SLATrainingArguments, train
from sla_phi4.training.response_dropout import (
    DroppedResponses, EpochOfDroppedResponses, ResponseDropout, epochs_to_run, response_dropout_data,
)
from sla_phi4.training.session_cache import SessionCache, encode_speech_inputs, pool_app_inputs


PARTS = ("P1",) * 6 + ("P3", "P4") + ("P5",) * 5


def row(index: int, marked=("P1", "P3", "P4", "P5"), parts=PARTS) -> dict:
    responses = [{"response_id": f"S{index}-{part}{i}", "part": part, "audio": f"{i}.flac"}
                 for i, part in enumerate(parts)]
    return {"session_id": f"S{index}", "responses": responses, "overall": 4.0,
            **{part: (3.5 if part in marked else None) for part in ("P1", "P3", "P4", "P5")}}


def parts_of(session: dict) -> list[str]:
    return [response["part"] for response in session["responses"]]


def test_no_dropout_leaves_every_session_whole():
    dropout = ResponseDropout(0.0, seed=3)
    rows = [row(i) for i in range(20)]
    assert all(dropout(r, epoch) is r for r in rows for epoch in range(5))
    arguments = SLATrainingArguments(output_dir="unused", use_cpu=True)
    dataset, callbacks = response_dropout_data(rows, arguments)
    assert dataset is rows and callbacks == []


def test_a_marked_part_always_keeps_a_response_and_an_unmarked_one_may_vanish():
    dropout = ResponseDropout(0.9, seed=0)
    marked_lost, unmarked_vanished = 0, 0
    for index in range(200):
        original = row(index, marked=("P1", "P3", "P5"))  # P4 present but unmarked
        for epoch in range(3):
            kept = parts_of(dropout(original, epoch))
            assert kept, "a session never loses every response"
            assert {"P1", "P3", "P5"} <= set(kept)
            marked_lost += kept.count("P1") < 6 or kept.count("P5") < 5
            unmarked_vanished += "P4" not in kept
    assert marked_lost > 500 and unmarked_vanished > 400  # marked parts lose answers; P4 (unmarked) often goes


def test_a_session_without_marks_keeps_one_response():
    dropout = ResponseDropout(0.95, seed=1)
    for index in range(100):
        assert len(dropout(row(index, marked=(), parts=("P1", "P1", "P5")), 0)["responses"]) >= 1


def test_draws_are_fixed_by_seed_epoch_and_session():
    rows = [row(i) for i in range(50)]
    first, again, other_seed = ResponseDropout(0.3, seed=7), ResponseDropout(0.3, seed=7), ResponseDropout(0.3, seed=8)
    assert [first.dropped(r, 2) for r in rows] == [again.dropped(r, 2) for r in rows]
    assert [first.dropped(r, 2) for r in rows] != [other_seed.dropped(r, 2) for r in rows]
    assert [first.dropped(r, 2) for r in rows] != [first.dropped(r, 3) for r in rows]
    assert first.dropped(rows[0], 2) == [2, 3, 8, 9]  # pinned: the same in any process (no salted `hash`)


def test_each_response_is_lost_at_the_asked_rate():
    dropout = ResponseDropout(0.3, seed=0)
    lost = [len(dropout.dropped(row(i, marked=()), 0)) for i in range(2000)]
    assert np.mean(lost) / len(PARTS) == pytest.approx(0.3, abs=0.01)


def test_the_dataset_follows_the_trainers_epoch_and_lists_every_truncated_session():
    rows = [row(i) for i in range(10)]
    dataset = DroppedResponses(rows, ResponseDropout(0.3, seed=0))
    callback = EpochOfDroppedResponses(dataset)
    for epoch, expected in ((0.0, 0), (2.0, 2), (2.5, 2)):  # 2.5: resumed in the middle of epoch 2
        callback.on_epoch_begin(None, TrainerState(epoch=epoch), TrainerControl())
        assert dataset.epoch == expected
    assert dataset[3] == dataset.dropout(rows[3], 2)
    truncated = dataset.truncated_sessions(3)
    wanted = {dataset.dropout(r, e)["session_id"] for r in rows for e in range(3)} - {r["session_id"] for r in rows}
    assert {session["session_id"] for session in truncated} == wanted and wanted


def test_epochs_to_run_and_argument_checks():
    arguments = SLATrainingArguments(output_dir="unused", use_cpu=True, num_train_epochs=2.5)
    assert epochs_to_run(arguments, 40) == 3
    arguments = SLATrainingArguments(output_dir="unused", use_cpu=True, max_steps=11, per_device_train_batch_size=4)
    assert epochs_to_run(arguments, 20) == 3  # 5 steps an epoch
    with pytest.raises(ValueError, match="stage sla"):
        SLATrainingArguments(output_dir="unused", use_cpu=True, stage="app", drop_responses=0.1)
    with pytest.raises(ValueError, match=r"\[0, 1\)"):
        SLATrainingArguments(output_dir="unused", use_cpu=True, drop_responses=1.0)


@pytest.fixture(scope="module")
def packed_voxtral(tmp_path_factory):
    """A tiny Voxtral whose processor packs a session's clips into shared windows."""
    from modeling_sla import SLAForSessionScoring
    from processing_sla import SLAProcessor

    folder = build_tiny_checkpoint(str(tmp_path_factory.mktemp("packed")), backbone="voxtral", audio_tower="random",
                                   pack_audio=True)
    return SLAForSessionScoring.from_pretrained(folder).eval(), SLAProcessor.from_pretrained(folder)


def test_a_truncated_session_is_encoded_as_itself_not_sliced_from_the_whole(packed_voxtral, tmp_path):
    model, processor = packed_voxtral
    assert processor.pack_audio
    whole = make_session("S", [("P1", 1.3), ("P1", 2.1), ("P3", 3.0), ("P5", 1.7)], seed=4)
    truncated = without_responses(whole, [1])
    cache = SessionCache(model, processor, folder=tmp_path)
    cache.add([whole, truncated], "test")
    with torch.no_grad():
        direct = encode_speech_inputs(model, processor(truncated, assess_audio=False))
        pooled = pool_app_inputs(model, processor.app_inputs(truncated))
    assert torch.equal(cache[truncated]["input_ids"], direct["input_ids"])
    torch.testing.assert_close(cache[truncated]["audio_embeds"], direct["audio_embeds"])
    torch.testing.assert_close(cache[truncated]["app_pooled"], pooled)
    # The whole session's packed tokens without the dropped clip's are not the truncated session's: its clips shared
    # windows with the dropped one, and the APP pooled over it.
    _, clip_tokens = processor.prompt.session_units(processor.audio_feature_extractor,
                                                    processor.load_session_audio(whole), 16_000, pack=True)
    embeds = cache[whole]["audio_embeds"]
    sliced = torch.cat([embeds[: clip_tokens[0]], embeds[clip_tokens[0] + clip_tokens[1]:]])
    assert sliced.shape == cache[truncated]["audio_embeds"].shape
    assert not torch.allclose(sliced, cache[truncated]["audio_embeds"], atol=1e-3)
    assert not torch.allclose(cache[whole]["app_pooled"], cache[truncated]["app_pooled"], atol=1e-3)


def test_training_with_dropped_responses_reads_truncated_sessions_from_the_cache(
        tiny_checkpoint, dropout_corpus, tmp_path):
    arguments = SLATrainingArguments(output_dir=str(tmp_path / "out"), use_cpu=True, num_train_epochs=2, seed=0,
                                     per_device_train_batch_size=4, disable_tqdm=True, save_strategy="no",
                                     load_best_model_at_end=False, eval_strategy="no", drop_responses=0.5)
    cache_dir = tmp_path / "cache"
    trainer = train(ModelArguments(checkpoint=str(tiny_checkpoint)),
                    DataArguments(corpus_root=str(dropout_corpus), cache_dir=str(cache_dir)), arguments)
    dataset = trainer.train_dataset
    assert isinstance(dataset, DroppedResponses) and dataset.epoch == 1  # the callback moved it on
    truncated = dataset.truncated_sessions(2)
    assert truncated, "with P=0.5 some training sessions lose responses"
    reloaded = SessionCache(trainer.model, trainer.processing_class, folder=str(cache_dir))
    for session in truncated:  # on disk, ready for a rerun
        assert reloaded[session]["audio_embeds"].shape[0] == int(
            (reloaded[session]["input_ids"] == trainer.model.audio_token_id).sum())


@pytest.fixture(scope="module")
def dropout_corpus(tmp_path_factory):
    from sla_phi4.data.synthetic import make_synthetic_corpus

    root = tmp_path_factory.mktemp("dropout-corpus") / "kit"
    make_synthetic_corpus(root, sessions=10, seed=5, duration_scale=0.05, progress=False)
    return root
