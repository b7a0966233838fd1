"""Exact by construction: in eval mode a session's outputs are the same to the last bit alone, in any batch and in
any order (`config.session_batching="per_session"`, the default); padded batches are opt-in."""

import pytest
import torch

from modeling_sla import SLAForSessionScoring
from modeling_sla.session_batch_sla import split_sessions, unit_ranges
from sla_phi4.testing import make_session


SESSIONS = [
    make_session("target", [("P1", 1.3), ("P1", 2.1), ("P3", 3.2), ("P5", 1.7)], seed=1),
    make_session("longer", [("P1", 2.9), ("P3", 6.5), ("P4", 5.8), ("P5", 2.4)], seed=7),
    make_session("shorter", [("P4", 0.9)], seed=11),
]
FIELDS = ("scores", "pooled_state", "app_probs", "app_logits")


def assert_bitwise(alone, batched, row):
    for field in FIELDS:
        assert torch.equal(getattr(alone, field)[0], getattr(batched, field)[row]), field


@pytest.fixture(scope="module", params=[torch.float32, torch.bfloat16], ids=["float32", "bfloat16"])
def model(request, tiny_checkpoint):
    return SLAForSessionScoring.from_pretrained(tiny_checkpoint, dtype=request.param).eval()


def test_scores_are_bitwise_alone_in_any_batch_and_order(model, tiny_processor):
    with torch.no_grad():
        alone = [model(**tiny_processor(session)) for session in SESSIONS]
        batched = model(**tiny_processor(SESSIONS))
        reversed_batch = model(**tiny_processor(SESSIONS[::-1]))
        pair = model(**tiny_processor(SESSIONS[1:]))
    for row, output in enumerate(alone):
        assert_bitwise(output, batched, row)
        assert_bitwise(output, reversed_batch, len(SESSIONS) - 1 - row)
    for row, output in enumerate(alone[1:]):
        assert_bitwise(output, pair, row)


def test_cached_inputs_are_split_per_session_too(model, tiny_processor):
    """Precomputed audio embeddings and pooled APP states (the session cache's inputs) take the same path."""
    batch = tiny_processor(SESSIONS)
    with torch.no_grad():
        audio = model.encode_speech(batch["audio_input_features"], batch["audio_feature_lengths"],
                                    batch["audio_embed_sizes"])
        pooled = model.pool_app_features(batch["app_input_features"], batch["app_frame_counts"],
                                         batch["app_window_session"], len(SESSIONS))
        cached = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"], audio_embeds=audio,
                       app_pooled=pooled)
        direct = model(**batch)
    assert cached.scores.shape == direct.scores.shape
    torch.testing.assert_close(cached.scores, direct.scores, rtol=0, atol=1e-2)


def test_padded_batches_are_opt_in_and_close(tiny_checkpoint, tiny_processor):
    model = SLAForSessionScoring.from_pretrained(tiny_checkpoint, session_batching="padded").eval()
    assert model.config.session_batching == "padded"
    with torch.no_grad():
        alone = [model(**tiny_processor(session)).scores[0] for session in SESSIONS]
        batched = model(**tiny_processor(SESSIONS)).scores
    torch.testing.assert_close(torch.stack(alone), batched, rtol=0, atol=1e-4)


def test_loss_and_hidden_states_are_joined_in_batch_order(tiny_model, tiny_processor):
    scores = [{"P1": 4.0, "overall": 4.0}, {"P3": 3.5}, {"P4": 2.5}]
    batch = tiny_processor(SESSIONS, scores=scores)
    with torch.no_grad():
        joined = tiny_model(**batch, output_hidden_states=True)
        tiny_model.config.session_batching = "padded"
        try:
            padded = tiny_model(**batch, output_hidden_states=True)
        finally:
            tiny_model.config.session_batching = "per_session"
    torch.testing.assert_close(joined.loss, padded.loss, rtol=1e-5, atol=1e-6)
    mask = batch["attention_mask"].bool()
    assert len(joined.hidden_states) == len(padded.hidden_states)
    for ours, theirs in zip(joined.hidden_states, padded.hidden_states):
        assert ours.shape == theirs.shape and not ours[~mask].any()
        torch.testing.assert_close(ours[mask], theirs[mask], rtol=1e-4, atol=1e-4)


def test_training_batches_are_padded_by_default(tiny_model, tiny_processor, monkeypatch):
    calls = []
    original = tiny_model._forward_batch
    monkeypatch.setattr(tiny_model, "_forward_batch", lambda **kwargs: calls.append(kwargs["input_ids"].shape[0])
                        or original(**kwargs))
    batch = tiny_processor(SESSIONS)
    tiny_model.train()
    try:
        with torch.no_grad():
            tiny_model(**batch)
    finally:
        tiny_model.eval()
    with torch.no_grad():
        tiny_model(**batch)
    assert calls == [3, 1, 1, 1]


def training_step(model, batch) -> tuple[torch.Tensor, torch.Tensor, dict]:
    """Loss, scores and the trainable parameters' gradients of one training forward and backward pass."""
    model.zero_grad(set_to_none=True)
    model.train()
    try:
        output = model(**batch)
        output.loss.backward()
    finally:
        model.eval()
    gradients = {name: parameter.grad.clone() for name, parameter in model.named_parameters()
                 if parameter.requires_grad and parameter.grad is not None}
    model.zero_grad(set_to_none=True)
    return output.loss.detach(), output.scores.detach(), gradients


def test_per_session_training_takes_the_padded_batchs_loss_and_gradients(tiny_checkpoint, tiny_processor, monkeypatch):
    """`training_batching="per_session"` (opt-in): one pass per session, no padding, the same loss and gradients as
    the padded pass (float32, dropout off so both see the same network), and each session's scores bitwise those of
    it alone in training mode."""
    model = SLAForSessionScoring.from_pretrained(tiny_checkpoint, lora_dropout=0.0).eval()
    model.set_trainable("sla")
    batch = tiny_processor(SESSIONS, scores=[{"P1": 4.0, "overall": 4.0}, {"P3": 3.5, "P5": 3.0}, {"P4": 2.5}])
    padded_loss, padded_scores, padded_gradients = training_step(model, batch)
    calls = []
    original = model._forward_batch
    monkeypatch.setattr(model, "_forward_batch", lambda **kwargs: calls.append(kwargs["input_ids"].shape[0])
                        or original(**kwargs))
    model.config.training_batching = "per_session"
    loss, scores, gradients = training_step(model, batch)
    assert calls == [1, 1, 1]
    torch.testing.assert_close(loss, padded_loss, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(scores, padded_scores, rtol=1e-5, atol=1e-5)
    assert gradients.keys() == padded_gradients.keys() and any(name.startswith("head") for name in gradients)
    assert any("lora" in name for name in gradients)
    for name, gradient in gradients.items():
        assert gradient.abs().sum() > 0 or padded_gradients[name].abs().sum() == 0, name
        torch.testing.assert_close(gradient, padded_gradients[name], rtol=1e-4, atol=1e-6, msg=name)
    model.train()
    try:
        with torch.no_grad():
            alone = [model(**tiny_processor([session])).scores[0] for session in SESSIONS]
    finally:
        model.eval()
    for row, session_scores in enumerate(alone):
        assert torch.equal(session_scores, scores[row])


def test_units_that_do_not_fit_the_placeholders_are_refused(tiny_processor):
    assert unit_ranges([5, 0, 7], [2, 3, 7]) == [range(0, 2), range(2, 2), range(2, 3)]
    with pytest.raises(ValueError, match="Session 0 of the batch holds 4 audio placeholders, but its audio units "
                                         "give 5 audio tokens"):
        unit_ranges([4, 7], [2, 3, 7])
    with pytest.raises(ValueError, match="The batch has 3 audio units, but its audio placeholders use only 2"):
        unit_ranges([5], [2, 3, 7])
    batch = tiny_processor(SESSIONS)
    sessions = split_sessions(dict(batch), tiny_processor.audio_token_id)
    assert [int(session["input_ids"].shape[1]) for session in sessions] == batch["attention_mask"].sum(1).tolist()
