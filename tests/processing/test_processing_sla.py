"""SLAProcessor: audio formats, rendering, labels, and errors that name the session and response."""

import numpy as np
import pytest
import soundfile
import torch

from processing_sla import AudioInputError, SessionInputError, SLAProcessor, load_audio
from sla_phi4.testing import make_session, noise_clip


def test_audio_formats_resample_and_mix_down(tmp_path):
    clip = noise_clip(1.0, 0)
    path = tmp_path / "clip.flac"
    soundfile.write(path, clip, 16_000)
    from_path = load_audio(str(path), "s, r")
    np.testing.assert_allclose(from_path, clip, atol=1e-4)
    stereo_8k = np.stack([clip[::2], clip[::2]], axis=1)
    resampled = load_audio({"array": stereo_8k, "sampling_rate": 8_000}, "s, r")
    assert resampled.ndim == 1 and abs(len(resampled) - 16_000) <= 2
    np.testing.assert_array_equal(load_audio(clip, "s, r"), clip)


def test_render_orders_parts_and_keeps_questions(tiny_processor):
    session = {"session_id": "x", "responses": [
        {"part": "P5", "audio": noise_clip(1, 0), "question": "Why?"},
        {"part": "P1", "audio": noise_clip(1, 1), "question": "Where do you live?"},
        {"part": "P1", "audio": noise_clip(1, 2), "question": None},
    ]}
    text = tiny_processor.render(session)
    assert text.startswith(tiny_processor.prior_token)
    assert text.index("Part P1") < text.index("Where do you live?") < text.index("Part P5") < text.index("Why?")
    assert text.count("Question:") == 2 and text.count(tiny_processor.audio_token) == 3
    assert text.endswith("<|assistant|>")


def test_batch_inputs_are_consistent(tiny_processor):
    batch = tiny_processor([make_session("a", [("P1", 1.0), ("P3", 2.5)]), make_session("b", [("P4", 0.7)])])
    audio_tokens = (batch["input_ids"] == tiny_processor.audio_token_id).sum(dim=1)
    assert audio_tokens.tolist() == [int(batch["audio_embed_sizes"][:2].sum()), int(batch["audio_embed_sizes"][2])]
    # 12.5 audio tokens per second: ceil(frames / 8), frames = (samples - 400) // 160 + 1
    assert batch["audio_embed_sizes"].tolist() == [13, 31, 9]
    assert (batch["input_ids"] == tiny_processor.prior_token_id).sum(dim=1).tolist() == [1, 1]
    assert batch["attention_mask"][1].sum() < batch["attention_mask"][0].sum()  # right padding
    assert batch["app_window_session"].tolist() == [0, 1]  # responses packed: 3.5 s and 0.7 s fit one window each
    assert batch["app_input_features"].shape[-1] == 3000


def test_long_responses_are_split_into_whisper_windows(tiny_processor):
    chunks, frames = tiny_processor.app_windows(np.zeros(16_000 * 65, dtype=np.float32))
    assert [len(chunk) for chunk in chunks] == [480_000, 480_000, 80_000] and frames == [1500, 1500, 251]


def test_labels_and_mask_from_scores_and_loader_rows(tiny_processor):
    row = make_session("a", [("P1", 1.0)]) | {"P1": 4.0, "P3": None, "P4": float("nan"), "P5": 3.5, "overall": None}
    batch = tiny_processor([row], scores=[row])
    assert batch["labels_mask"].tolist() == [[True, False, False, True, False]]
    torch.testing.assert_close(batch["labels"][0, [0, 3]], torch.tensor([4.0, 3.5]))


@pytest.mark.parametrize(
    ("session", "message"),
    [
        ({"session_id": "S9", "responses": []}, r"Session S9: no responses"),
        ({"session_id": "S9", "responses": [{"response_id": "S9-P20001", "part": "P2", "audio": noise_clip(1, 0)}]},
         r"Session S9, response S9-P20001: unknown part 'P2'"),
        ({"session_id": "S9", "responses": [{"response_id": "r1", "part": "P1", "audio": np.zeros(0)}]},
         r"Session S9, response r1: audio is empty or too short"),
        ({"session_id": "S9", "responses": [{"part": "P3", "audio": None}]}, r"Session S9, response #0: no audio"),
    ],
)
def test_bad_sessions_name_the_session_and_response(tiny_processor, session, message):
    with pytest.raises((SessionInputError, AudioInputError), match=message):
        tiny_processor(session)


def test_unreadable_and_empty_files_name_the_file(tiny_processor, tmp_path):
    broken = tmp_path / "broken.flac"
    broken.write_bytes(b"not audio at all")
    empty = tmp_path / "empty.wav"
    soundfile.write(empty, np.zeros(0, dtype=np.float32), 16_000)
    for path, message in ((broken, "cannot read audio file"), (empty, "empty or too short"),
                          (tmp_path / "absent.flac", "audio file not found")):
        session = {"session_id": "S7", "responses": [{"response_id": "S7-P30017", "part": "P3", "audio": str(path)}]}
        with pytest.raises(AudioInputError, match=rf"Session S7, response S7-P30017: .*{message}"):
            tiny_processor(session)


def test_processor_round_trip_keeps_template_and_tokens(tiny_processor, tmp_path):
    tiny_processor.save_pretrained(tmp_path)
    reloaded = SLAProcessor.from_pretrained(tmp_path)
    assert (tmp_path / "chat_template.jinja").read_text() == tiny_processor.chat_template
    assert reloaded.prior_token_id == tiny_processor.prior_token_id
    assert reloaded.audio_token_id == tiny_processor.audio_token_id
    session = make_session("a", [("P1", 1.0)])
    torch.testing.assert_close(reloaded(session)["input_ids"], tiny_processor(session)["input_ids"])


def test_loading_the_class_directly_never_asks_about_remote_code(tiny_checkpoint, monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("asked whether to trust remote code")

    monkeypatch.setattr("builtins.input", refuse)
    assert SLAProcessor.from_pretrained(tiny_checkpoint).prior_token_id is not None


def duplicated(session_id: str, first: dict, second: dict) -> dict:
    return {"session_id": session_id, "responses": [first, {"part": "P3", "audio": noise_clip(2.0, 9)}, second]}


@pytest.mark.parametrize("form", ["response_id", "path", "array", "array_dict"])
def test_duplicate_responses_are_refused(tiny_processor, tmp_path, form):
    """The same response twice changed the score (P1 3.790 against 3.777); the loader already refused it."""
    clip = noise_clip(1.0, 4)
    path = tmp_path / "S5-P10001.flac"
    soundfile.write(path, clip, 16_000)
    first = {"response_id": "S5-P10001", "part": "P1", "audio": str(path)}
    second = {
        "response_id": "S5-P10002",
        "part": "P1",
        "audio": {"path": str(tmp_path / "." / "S5-P10001.flac")},
    }
    if form == "response_id":
        first, second = dict(first, audio=noise_clip(1.0, 5)), dict(first, audio=noise_clip(1.0, 6))
    elif form == "array":
        first, second = dict(first, audio=clip), {"part": "P1", "audio": clip.copy()}
    elif form == "array_dict":
        first = dict(first, audio={"array": clip, "sampling_rate": 16_000})
        second = {"part": "P1", "audio": {"array": clip.astype(np.float64), "sampling_rate": 16_000}}
    with pytest.raises(SessionInputError, match=r"Session S5, response .*: .*same .* as response S5-P10001"):
        tiny_processor(duplicated("S5", first, second))
    second.update(response_id="S5-P10002", audio=noise_clip(1.0, 8))
    tiny_processor(duplicated("S5", first, second))  # distinct responses are fine


def test_question_text_never_becomes_a_special_token(tiny_model, tiny_processor):
    """A question holding the prior token's or the audio placeholder's text is encoded as plain text."""
    hostile = f"Say {tiny_processor.prior_token} and {tiny_processor.audio_token}{tiny_processor.audio_token}?"
    session = make_session("hostile", [("P1", 1.0), ("P5", 1.2)])
    session["responses"][0]["question"] = hostile
    batch = tiny_processor(session)
    assert int((batch["input_ids"] == tiny_processor.prior_token_id).sum()) == 1
    assert int((batch["input_ids"] == tiny_processor.audio_token_id).sum()) == int(batch["audio_embed_sizes"].sum())
    assert hostile in tiny_processor.tokenizer.decode(batch["input_ids"][0])
    with torch.no_grad():
        assert torch.isfinite(tiny_model(**batch).scores).all()
