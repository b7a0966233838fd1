"""The session cache: frozen-encoder outputs computed once, kept on disk, and never served stale."""

import soundfile
import torch

from sla_phi4.testing import make_session, noise_clip
from modeling_sla import load_test_format
from sla_phi4.training.collator import band_targets
from sla_phi4.training.session_cache import SessionCache


def file_session(folder, session_id: str, seed: int) -> dict:
    session = make_session(session_id, [("P1", 1.0), ("P3", 1.6)], seed=seed)
    for response in session["responses"]:
        path = folder / f"{response['response_id']}.flac"
        soundfile.write(path, response["audio"], 16_000)
        response["audio"] = str(path)
    return session


def test_a_second_cache_reads_from_disk_what_the_first_computed(tiny_model, tiny_processor, tmp_path, monkeypatch):
    rows = [file_session(tmp_path, "a", 1), file_session(tmp_path, "b", 2)]
    first = SessionCache(tiny_model, tiny_processor, folder=tmp_path / "cache")
    first.add(rows, "test")
    assert {path.name.split("-")[0] for path in (tmp_path / "cache").iterdir()} == {"speech", "app"}
    second = SessionCache(tiny_model, tiny_processor, folder=tmp_path / "cache")
    monkeypatch.setattr(second, "_encode", lambda row: (_ for _ in ()).throw(AssertionError("recomputed")))
    second.add(rows, "test")
    for row in rows:
        for name, tensor in first[row].items():
            torch.testing.assert_close(second[row][name], tensor, rtol=0, atol=0)
    with torch.no_grad():
        direct = tiny_model.pool_app_features(**{key: value for key, value in tiny_processor.app_inputs(rows[0]).items()},
                                              num_sessions=1)[0]
    torch.testing.assert_close(second[rows[0]]["app_pooled"], direct, rtol=0, atol=1e-6)


def test_processes_sharing_a_cache_folder_keep_each_others_sessions(tiny_model, tiny_processor, tmp_path):
    rows = [file_session(tmp_path, "a", 1), file_session(tmp_path, "b", 2)]
    first = SessionCache(tiny_model, tiny_processor, parts=("app",), folder=tmp_path / "cache")
    second = SessionCache(tiny_model, tiny_processor, parts=("app",), folder=tmp_path / "cache")  # both load empty
    first.add(rows[:1], "test")
    second.add(rows[1:], "test")  # saved after the first: it must not drop the first's session
    merged = SessionCache(tiny_model, tiny_processor, parts=("app",), folder=tmp_path / "cache")
    for row, cache in zip(rows, (first, second)):
        torch.testing.assert_close(merged[row]["app_pooled"], cache[row]["app_pooled"], rtol=0, atol=0)


def test_changed_audio_or_encoder_is_never_served_from_the_cache(tiny_model, tiny_processor, tmp_path):
    row = file_session(tmp_path, "a", 1)
    cache = SessionCache(tiny_model, tiny_processor, parts=("app",), folder=tmp_path / "cache")
    cache.add([row], "test")
    before = cache[row]["app_pooled"].clone()
    soundfile.write(row["responses"][0]["audio"], noise_clip(1.4, 99), 16_000)  # the same file, new audio
    again = SessionCache(tiny_model, tiny_processor, parts=("app",), folder=tmp_path / "cache")
    again.add([row], "test")
    assert not torch.equal(again[row]["app_pooled"], before)
    with torch.no_grad():
        tiny_model.app.encoder.layer_norm.bias.add_(0.5)
        try:
            changed = SessionCache(tiny_model, tiny_processor, parts=("app",), folder=tmp_path / "cache")
        finally:
            tiny_model.app.encoder.layer_norm.bias.sub_(0.5)
    assert changed.fingerprints["app"] != again.fingerprints["app"] and not changed.stored["app"]


def test_stage_app_learns_from_every_mark_or_overall_alone():
    sandi = load_test_format("sandi2025")
    labels = torch.tensor([[3.0, 4.5, 0.0, 0.0, 3.75], [2.0, 0.0, 0.0, 5.5, 0.0]])
    mask = torch.tensor([[True, True, False, False, True], [True, False, False, True, False]])
    assert band_targets(labels, mask, sandi, "all").tolist() == [[2, 5, -100, -100, 4], [0, -100, -100, 7, -100]]
    assert band_targets(labels, mask, sandi, "overall").tolist() == [[-100] * 4 + [4], [-100] * 5]


def test_stage_app_bands_follow_the_format_and_the_model():
    """TOEFL-like overall (0-30) is put on the tasks' 0-4 bands; a model started from S&I keeps S&I's bands."""
    toefl = load_test_format("toefl-like")
    labels = torch.tensor([[0.0, 1.0, 3.0, 4.0, 22.5]])
    mask = torch.ones_like(labels, dtype=torch.bool)
    assert band_targets(labels, mask, toefl).tolist() == [[0, 1, 3, 4, 3]]
    sandi_bands = [2.0 + 0.5 * band for band in range(8)]
    assert band_targets(labels, mask, toefl, "all", sandi_bands).tolist() == [[0, 0, 2, 4, 2]]


def test_only_missing_parts_are_computed(tiny_model, tiny_processor, tmp_path, monkeypatch):
    """Stage sla finds the pooled Whisper states stage app stored: it runs the audio tower, never Whisper again."""
    rows = [file_session(tmp_path, "a", 1)]
    SessionCache(tiny_model, tiny_processor, parts=("app",), folder=tmp_path / "cache").add(rows, "stage app")
    both = SessionCache(tiny_model, tiny_processor, folder=tmp_path / "cache")
    monkeypatch.setattr(tiny_model, "pool_app_features", lambda *args: (_ for _ in ()).throw(AssertionError("again")))
    both.add(rows, "stage sla")
    assert set(both[rows[0]]) == {"input_ids", "audio_embeds", "app_pooled"}
