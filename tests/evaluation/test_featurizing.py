"""Sessions loaded and featurized ahead of the model in worker processes (`sla_phi4.evaluation.featurizing`), and
the scoring model loaded where it scores (`sla_phi4.evaluation.loading`)."""

import json
import os

import numpy as np
import pytest
import soundfile
import torch

from processing_sla.audio_io_sla import AudioInputError
from sla_phi4.data import ahead
from sla_phi4.data.ahead import default_num_workers, worked_ahead
from sla_phi4.evaluation.featurizing import loaded_batches
from sla_phi4.evaluation.loading import load_scoring_model
from sla_phi4.evaluation.predictions import score_sessions
from sla_phi4.training.session_cache import SessionCache


PARTS = [("P1", 1.2), ("P1", 0.9), ("P3", 2.5), ("P4", 2.1), ("P5", 1.4)]


def write_sessions(folder, count: int, seed: int = 0) -> list[dict]:
    """`count` sessions of amplitude-modulated noise in FLAC files, of different lengths."""
    rng = np.random.default_rng(seed)
    rows = []
    for number in range(count):
        responses = []
        for position, (part, seconds) in enumerate(PARTS):
            samples = int((seconds + 0.37 * number) * 16_000)
            envelope = 0.5 + 0.5 * np.sin(np.linspace(0, 9 * seconds, samples))
            path = folder / f"s{number}-{position}.flac"
            soundfile.write(path, (0.1 * envelope * rng.standard_normal(samples)).astype(np.float32), 16_000)
            responses.append({"response_id": f"s{number}-{position}", "part": part, "audio": str(path)})
        rows.append({"session_id": f"s{number}", "responses": responses})
    return rows


def break_file(row: dict, position: int) -> None:
    """Replaces a response's file by one of NaN samples (refused as `non_finite`)."""
    soundfile.write(row["responses"][position]["audio"], np.full(8000, np.nan, np.float32), 16_000, format="WAV",
                    subtype="FLOAT")


def scored(model, processor, rows, **options) -> list:
    return [session for batch in score_sessions(model, processor, rows, **options) for session in batch]


class PidRecordingProcessor:
    """A processor that leaves a file named by the process id of each session it featurizes."""

    def __init__(self, processor, folder):
        self.processor, self.folder = processor, folder

    def featurize_session(self, *args, **kwargs):
        (self.folder / str(os.getpid())).touch()
        return self.processor.featurize_session(*args, **kwargs)

    def __getattr__(self, name):
        return getattr(self.processor, name)


@pytest.fixture
def rows(tmp_path):
    found = write_sessions(tmp_path, 7)
    break_file(found[2], 3)
    return found


def test_workers_give_the_main_process_scores_bit_for_bit(tiny_model, tiny_processor, rows):
    alone = scored(tiny_model, tiny_processor, rows, batch_size=3, on_unreadable="refuse", num_workers=0)
    ahead = scored(tiny_model, tiny_processor, rows, batch_size=3, on_unreadable="refuse", num_workers=2)
    assert [session.index for session in ahead] == [session.index for session in alone]
    assert sorted(session.index for session in ahead) == list(range(7))
    for first, second in zip(alone, ahead):
        assert np.array_equal(first.scores, second.scores, equal_nan=True)
        assert np.array_equal(first.app_probs, second.app_probs) if first.app_probs is not None else True
        assert first.warnings == second.warnings and first.refused == second.refused
    refused = [session for session in ahead if session.refused]
    assert [session.session_id for session in refused] == ["s2"]
    assert refused[0].warnings[0]["reason"] == "non_finite" and refused[0].warnings[0]["response_id"] == "s2-3"
    assert all(np.isfinite(session.scores).any() for session in ahead if not session.refused)


def test_workers_featurize_in_other_processes(tiny_model, tiny_processor, rows, tmp_path):
    calls = tmp_path / "calls"
    calls.mkdir()
    recording = PidRecordingProcessor(tiny_processor, calls)
    scored(tiny_model, recording, rows, batch_size=2, on_unreadable="refuse", num_workers=2)
    pids = {int(path.name) for path in calls.iterdir()}
    assert pids and os.getpid() not in pids
    for path in calls.iterdir():
        path.unlink()
    scored(tiny_model, recording, rows, batch_size=2, on_unreadable="refuse", num_workers=0)
    assert {int(path.name) for path in calls.iterdir()} == {os.getpid()}


def test_a_loader_error_crosses_the_process_boundary_whole(tiny_model, tiny_processor, rows):
    with pytest.raises(AudioInputError, match=r"s2-3.*NaN") as raised:
        scored(tiny_model, tiny_processor, rows, batch_size=3, num_workers=2)  # on_unreadable="error"
    assert raised.value.reason == "non_finite"
    assert "Traceback" not in str(raised.value)  # the error itself, not the loader's wrapping of it


def test_cached_sessions_only_load_their_audio_for_the_checks(tiny_model, tiny_processor, rows, tmp_path):
    kept = [row for number, row in enumerate(rows) if number != 2]
    cache = SessionCache(tiny_model, tiny_processor)
    cache.add(kept, "Encoding")
    calls = tmp_path / "calls"
    calls.mkdir()
    recording = PidRecordingProcessor(tiny_processor, calls)
    ahead = scored(tiny_model, recording, kept, batch_size=2, cache=cache, num_workers=2)
    assert not list(calls.iterdir())  # the workers checked the audio, they did not featurize it
    alone = scored(tiny_model, tiny_processor, kept, batch_size=2, cache=cache, num_workers=0)
    uncached = scored(tiny_model, tiny_processor, kept, batch_size=2, num_workers=0)
    for first, second, third in zip(alone, ahead, uncached):
        assert np.array_equal(first.scores, second.scores, equal_nan=True) and first.warnings == second.warnings
        assert np.allclose(first.scores, third.scores, atol=1e-4, equal_nan=True)


def test_workers_default_to_the_cores_an_accelerator_leaves(monkeypatch):
    monkeypatch.setattr(ahead, "available_cores", lambda: 16)
    assert default_num_workers(torch.device("cuda", 0)) == ahead.MAX_WORKERS == 8
    assert default_num_workers(torch.device("cuda", 0), processes_per_machine=4) == 3
    assert default_num_workers(torch.device("cpu")) == default_num_workers("cpu") == 0
    monkeypatch.setattr(ahead, "available_cores", lambda: 1)
    assert default_num_workers(torch.device("cuda", 0)) == 0
    with pytest.raises(ValueError, match="num_workers must be 0 or more"):
        next(loaded_batches(None, [], [[0]], num_workers=-1))


def test_the_scoring_model_keeps_its_dtype_unless_told(tiny_checkpoint):
    saved = load_scoring_model(str(tiny_checkpoint), "cpu")
    assert not saved.training and saved.device.type == "cpu"
    assert saved.backbone.embed_tokens.weight.dtype == torch.float32
    cast = load_scoring_model(str(tiny_checkpoint), torch.device("cpu"), "bfloat16")
    assert cast.backbone.embed_tokens.weight.dtype == torch.bfloat16
    assert cast.head.linear.weight.dtype == torch.float32  # what decides a score stays float32
    with pytest.raises(ValueError, match="dtype must be one of auto, bfloat16, float32, got 'float16'"):
        load_scoring_model(str(tiny_checkpoint), "cpu", "float16")


@pytest.mark.slow
def test_sla_score_with_workers_and_a_cast_records_it(tiny_checkpoint, tmp_path, capsys):
    from sla_phi4.cli.score import main as score_main
    from sla_phi4.evaluation.shards import StaleShardsError

    audio = tmp_path / "audio"
    audio.mkdir()
    found = write_sessions(audio, 5, seed=4)
    manifest = tmp_path / "cohort.jsonl"
    manifest.write_text("".join(json.dumps({"session_id": row["session_id"], **response}, allow_nan=False) + "\n"
                                for row in found for response in row["responses"]))
    common = ["--checkpoint", str(tiny_checkpoint), "--manifest", str(manifest)]
    score_main([*common, "--output-dir", str(tmp_path / "inline"), "--num_workers", "0"])
    score_main([*common, "--output-dir", str(tmp_path / "ahead"), "--num_workers", "2"])
    assert (tmp_path / "inline" / "scores.csv").read_text() == (tmp_path / "ahead" / "scores.csv").read_text()
    cast = tmp_path / "ahead"
    with pytest.raises(StaleShardsError, match=r"dtype differ"):
        score_main([*common, "--output-dir", str(cast), "--dtype", "bfloat16"])
    score_main([*common, "--output-dir", str(cast), "--dtype", "bfloat16", "--overwrite"])
    assert json.loads((cast / "shards" / "manifest.json").read_text())["dtype"] == "bfloat16"
    with pytest.raises(SystemExit):
        score_main([*common, "--output-dir", str(tmp_path / "bad"), "--dtype", "float16"])
    assert "invalid choice: 'float16'" in capsys.readouterr().err


def killed_by_sigbus(item):
    """What a worker suffers when /dev/shm is full as it hands a tensor over."""
    import signal

    os.kill(os.getpid(), signal.SIGBUS)


def test_workers_out_of_shared_memory_say_what_to_do():
    advice = r"One of the 2 featurizing workers died.*shared memory.*--num_workers 0.*--shm-size"
    with pytest.raises(RuntimeError, match=advice):
        list(worked_ahead(killed_by_sigbus, [1, 2], num_workers=2))


def failing(item):
    raise RuntimeError(f"item {item}: unable to write to file </torch_1_2>: No space left on device (28)")


def test_an_error_of_the_work_itself_is_passed_on_as_it_is():
    for workers in (0, 2):
        with pytest.raises(RuntimeError, match=r"^item 1: unable to write"):
            list(worked_ahead(failing, [1, 2], num_workers=workers))
    assert list(worked_ahead(abs, [-3, 2, -1], num_workers=2)) == [3, 2, 1]  # in order


class Unpicklable(Exception):
    def __init__(self, message, handle):
        super().__init__(message)
        self.handle = handle


def raising_unpicklable(item):
    import threading

    raise Unpicklable(f"item {item} failed", threading.Lock())  # a lock cannot be pickled


def test_an_error_that_cannot_cross_processes_arrives_as_what_it_said():
    import threading

    raised = []

    def consume():
        try:
            list(worked_ahead(raising_unpicklable, [1, 2], num_workers=2))
        except Exception as error:
            raised.append(error)

    consumer = threading.Thread(target=consume, daemon=True)
    consumer.start()
    consumer.join(timeout=120)
    assert not consumer.is_alive(), "the consumer hangs: the worker's error was lost on its way"
    assert isinstance(raised[0], RuntimeError) and str(raised[0]) == "Unpicklable: item 1 failed"
    assert any("in a featurizing worker" in note and "raising_unpicklable" in note
               for note in getattr(raised[0], "__notes__", []))  # the worker's traceback travels as a note


def test_workers_hand_numpy_over_not_shared_tensors(tiny_processor, rows):
    """Torch tensors from workers travel through /dev/shm (64 MB in a default container): batches travel as NumPy."""
    batch = next(loaded_batches(tiny_processor, rows, [[0, 1]], num_workers=2))

    def tensors(value):
        if isinstance(value, dict):
            return any(tensors(item) for item in value.values())
        if isinstance(value, (list, tuple)):
            return any(tensors(item) for item in value)
        return torch.is_tensor(value) or any(torch.is_tensor(item) for item in vars(value).values()) \
            if hasattr(value, "__dataclass_fields__") else torch.is_tensor(value)

    assert batch.indices == [0, 1] and not tensors(batch.featurized)


def test_each_local_process_takes_its_share_of_the_cores(monkeypatch):
    monkeypatch.setattr(ahead, "available_cores", lambda: 16)
    monkeypatch.setenv("LOCAL_WORLD_SIZE", "2")  # torchrun's, accelerate's
    assert default_num_workers(torch.device("cuda", 0)) == 7


def test_the_cache_fills_from_workers_as_from_the_main_process(tiny_model, tiny_processor, rows, tmp_path):
    kept = [row for number, row in enumerate(rows) if number != 2]
    here, ahead_of_it = SessionCache(tiny_model, tiny_processor), SessionCache(tiny_model, tiny_processor)
    here.add(kept, "Encoding", num_workers=0)
    calls = tmp_path / "calls"
    calls.mkdir()
    ahead_of_it.processor = PidRecordingProcessor(tiny_processor, calls)
    ahead_of_it.add(kept, "Encoding", num_workers=2)
    assert os.getpid() not in {int(path.name) for path in calls.iterdir()} and list(calls.iterdir())
    for part in here.parts:
        assert here.stored[part].keys() == ahead_of_it.stored[part].keys()
        assert all(torch.equal(here.stored[part][key], ahead_of_it.stored[part][key]) for key in here.stored[part])


def test_a_cache_leaves_an_unreadable_session_for_scoring_to_refuse(tiny_checkpoint, tmp_path):
    from sla_phi4.evaluation.scoring import score_recordings

    found = write_sessions(tmp_path, 3, seed=9)
    break_file(found[1], 2)  # NaN samples: the intake passes it, decoding does not
    manifest = tmp_path / "cohort.jsonl"
    manifest.write_text("".join(json.dumps({"session_id": row["session_id"], **response}, allow_nan=False) + "\n"
                                for row in found for response in row["responses"]))
    report = score_recordings(str(tiny_checkpoint), str(tmp_path / "out"), manifest=str(manifest),
                              cache_dir=str(tmp_path / "cache"), num_workers=2)
    assert report["sessions"]["scored"] == 2
    assert report["sessions"]["refused"]["by_reason"] == {"non_finite": 1}
    assert [entry["session_id"] for entry in report["sessions"]["refused"]["sessions"]] == ["s1"]
