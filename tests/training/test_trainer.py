"""Training (stages app and sla), resuming, 2-process DDP on CPU, and corpus scoring."""

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from modeling_sla import load_test_format
from sla_phi4.training import DataArguments, ModelArguments, SessionCollator, SLATrainingArguments, train
from sla_phi4.training.session_cache import SessionCache


@pytest.fixture(scope="session")
def tiny_corpus(tmp_path_factory) -> Path:
    from sla_phi4.data.synthetic import make_synthetic_corpus

    root = tmp_path_factory.mktemp("corpus") / "kit"
    make_synthetic_corpus(root, sessions=20, seed=3, duration_scale=0.05, progress=False)
    return root


def arguments(stage, output_dir, epochs=4, lr=3e-3, **overrides):
    return SLATrainingArguments(
        stage=stage, output_dir=str(output_dir), num_train_epochs=epochs, learning_rate=lr, seed=0,
        per_device_train_batch_size=4, per_device_eval_batch_size=4, use_cpu=True, disable_tqdm=True,
        dataloader_pin_memory=False, **overrides,
    )


def epoch_losses(trainer):
    return [entry["loss"] for entry in trainer.state.log_history if "loss" in entry]


@pytest.fixture(scope="session")
def stage_app_dir(tiny_checkpoint, tiny_corpus, tmp_path_factory) -> Path:
    output = tmp_path_factory.mktemp("stage-app")
    trainer = train(ModelArguments(checkpoint=str(tiny_checkpoint)), DataArguments(corpus_root=str(tiny_corpus)),
                    arguments("app", output, epochs=8, lr=1e-2, save_strategy="no", load_best_model_at_end=False))
    losses = epoch_losses(trainer)
    assert losses[-1] < losses[0], losses
    return output


def test_stage_app_trains_only_the_classifier(stage_app_dir, tiny_checkpoint):
    before, after = load_file(tiny_checkpoint / "model.safetensors"), load_file(stage_app_dir / "model.safetensors")
    changed = sorted(key for key in before if not torch.equal(before[key], after[key]))
    assert changed and all(key.startswith("app.classifier.") for key in changed), changed
    assert "app.classifier.input_mean" in changed and "app.classifier.fc2.weight" in changed


def test_stage_sla_lowers_the_loss_and_keeps_the_best_checkpoint(stage_app_dir, tiny_corpus, tmp_path):
    trainer = train(ModelArguments(checkpoint=str(stage_app_dir)), DataArguments(corpus_root=str(tiny_corpus)),
                    arguments("sla", tmp_path, epochs=4, lr=2e-3))
    losses = epoch_losses(trainer)
    assert losses[-1] < losses[0], losses
    assert trainer.args.metric_for_best_model == "overall_rmse" and trainer.state.best_metric is not None
    history = [entry["eval_overall_rmse"] for entry in trainer.state.log_history if "eval_overall_rmse" in entry]
    assert trainer.state.best_metric == min(history)
    assert (tmp_path / "model.safetensors").is_file() and (tmp_path / "processor_config.json").is_file()
    assert any(path.name.startswith("checkpoint-") for path in tmp_path.iterdir())


def test_cached_batches_equal_processor_batches(stage_app_dir, tiny_corpus):
    from modeling_sla import SLAForSessionScoring
    from processing_sla import SLAProcessor
    from sla_phi4.data.speak_improve import load_speak_improve

    model = SLAForSessionScoring.from_pretrained(stage_app_dir).eval()
    processor = SLAProcessor.from_pretrained(stage_app_dir)
    rows = list(load_speak_improve(tiny_corpus, "dev"))[:3]
    cache = SessionCache(model, processor)
    cache.add(rows, "test")
    cached = SessionCollator(processor, cache, "sla")(rows)
    direct = SessionCollator(processor, None, "sla")(rows)
    assert "audio_embeds" in cached and "audio_input_features" not in cached
    with torch.no_grad():
        torch.testing.assert_close(model(**cached).scores, model(**direct).scores, rtol=0, atol=1e-5)


def test_resume_from_checkpoint_reproduces_the_uninterrupted_run(stage_app_dir, tiny_corpus, tmp_path):
    data = DataArguments(corpus_root=str(tiny_corpus))
    model_args = ModelArguments(checkpoint=str(stage_app_dir))
    full = tmp_path / "full"
    train(model_args, data, arguments("sla", full, epochs=2, load_best_model_at_end=False, save_total_limit=None))
    first = sorted(full.glob("checkpoint-*"), key=lambda path: int(path.name.split("-")[1]))[0]
    resumed = tmp_path / "resumed"
    resumed.mkdir()
    os.symlink(first, resumed / first.name)
    train(model_args, data, arguments("sla", resumed, epochs=2, load_best_model_at_end=False,
                                      resume_from_checkpoint=str(resumed / first.name)))
    expected, actual = load_file(full / "model.safetensors"), load_file(resumed / "model.safetensors")
    assert expected.keys() == actual.keys()
    for key in expected:
        torch.testing.assert_close(actual[key], expected[key], rtol=0, atol=1e-6, msg=key)


def test_two_process_accelerate_launch(stage_app_dir, tiny_corpus, tmp_path):
    command = [
        sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu", "--num_processes", "2",
        "--num_machines", "1", "--mixed_precision", "no", "--dynamo_backend", "no",
        "-m", "sla_phi4", "train", "--stage", "sla", "--checkpoint", str(stage_app_dir),
        "--corpus_root", str(tiny_corpus), "--output_dir", str(tmp_path), "--num_train_epochs", "2",
        "--per_device_train_batch_size", "2", "--use_cpu", "true", "--disable_tqdm", "true",
        "--dataloader_pin_memory", "false", "--save_strategy", "no", "--load_best_model_at_end", "false",
    ]
    environment = {**os.environ, "OMP_NUM_THREADS": "1"}
    result = subprocess.run(command, capture_output=True, text=True, timeout=600, env=environment, cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-4000:]
    assert "world size 2" in result.stdout, result.stdout[-2000:]
    assert (tmp_path / "model.safetensors").is_file()


def test_score_corpus_writes_kit_predictions_report_and_plots(stage_app_dir, tiny_corpus, tmp_path):
    from sla_phi4.data.speak_improve import load_speak_improve
    from sla_phi4.evaluation.scoring import score_corpus

    report = score_corpus(str(stage_app_dir), str(tiny_corpus), "eval", str(tmp_path), calibrate_on="dev")
    ids = [row["session_id"] for row in load_speak_improve(tiny_corpus, "eval")]
    for name in ("P1", "P3", "P4", "P5", "overall"):
        with open(tmp_path / "predictions" / f"eval-sla-{name}.tsv", newline="") as handle:
            rows = list(csv.reader(handle, delimiter="\t"))
        assert [row[0] for row in rows] == ids and all(len(row) == 2 for row in rows)
        assert all(2.0 - 3 < float(row[1]) < 5.5 + 3 for row in rows)
    saved = json.loads((tmp_path / "eval_report.json").read_text())
    assert saved["metrics"]["overall"]["count"] == len(ids)
    assert set(saved["baselines"]) == {"train_mean", "acoustic_ridge", "whisper_ridge"}
    assert saved["calibration"]["fitted_on"] == "dev" and "overall" in saved["calibration"]["metrics"]
    assert all((tmp_path / name).is_file() and (tmp_path / name).stat().st_size > 1000 for name in saved["plots"])
    assert report["metrics"] == saved["metrics"]
    dev = score_corpus(str(stage_app_dir), str(tiny_corpus), "dev", str(tmp_path / "dev"), train_split=None)
    reused = score_corpus(str(stage_app_dir), str(tiny_corpus), "eval", str(tmp_path / "again"), calibrate_on="dev",
                          train_split=None, calibration_predictions=str(tmp_path / "dev" / "predictions"))
    assert dev["num_sessions"] > 0
    for name, fitted in saved["calibration"]["coefficients"].items():  # files keep 6 decimals
        again = reused["calibration"]["coefficients"][name]
        if "slope" in fitted:
            assert again["slope"] == pytest.approx(fitted["slope"], rel=1e-3)
        else:  # too few sessions or a wild slope: left raw, for the same reason both times
            assert again == fitted
    with pytest.raises(ValueError, match="another split"):
        score_corpus(str(stage_app_dir), str(tiny_corpus), "eval", str(tmp_path), calibrate_on="eval")


def test_ablation_switches_build_from_parts(tiny_checkpoint, tiny_corpus, tmp_path):
    parts = tiny_checkpoint / "parts"
    model_args = ModelArguments(backbone=str(parts / "phi4-multimodal"), app_encoder=str(parts / "whisper"),
                                use_app=False, overall_mode="part_mean", lora_rank=2)
    trainer = train(model_args, DataArguments(corpus_root=str(tiny_corpus)),
                    arguments("sla", tmp_path, epochs=1, save_strategy="no", load_best_model_at_end=False))
    config = trainer.model.config
    assert (config.use_app, config.overall_mode, config.lora_rank, config.lora_alpha) == (False, "part_mean", 2, 4)
    assert trainer.model.app is None and trainer.model.head.linear.out_features == 4
    with pytest.raises(ValueError, match="build from parts"):
        train(ModelArguments(checkpoint=str(tiny_checkpoint), overall_mode="part_mean"),
              DataArguments(corpus_root=str(tiny_corpus)), arguments("sla", tmp_path / "x", epochs=1))


@pytest.fixture
def damaged_corpus(tiny_corpus, tmp_path):
    """The corpus with, in eval, one session's P3 answer silenced and another session's P4 answer unlisted."""
    import shutil

    import soundfile

    from sla_phi4.data.speak_improve import load_speak_improve

    root = tmp_path / "damaged"
    shutil.copytree(tiny_corpus, root)
    rows = list(load_speak_improve(root, "eval"))
    silenced, unlisted = rows[0], rows[1]
    p3 = next(r for r in silenced["responses"] if r["part"] == "P3")
    soundfile.write(p3["audio"], np.zeros(soundfile.info(p3["audio"]).frames, dtype=np.float32), 16_000)
    p4_id = next(r for r in unlisted["responses"] if r["part"] == "P4")["response_id"]
    for name in ("eval-sla-P4.tsv", "eval-sla-overall.tsv"):
        listed = root / "reference-materials" / "flists.flac" / name
        listed.write_text("".join(f"{line}\n" for line in listed.read_text().splitlines()
                                  if not line.startswith(p4_id + "\t")))
    return root, silenced["session_id"], p3["response_id"], unlisted["session_id"], len(rows)


def prediction_ids(folder, target):
    with open(folder / "predictions" / f"eval-sla-{target}.tsv", newline="") as handle:
        return [row[0] for row in csv.reader(handle, delimiter="\t")]


def test_score_corpus_leaves_out_what_cannot_be_scored(tiny_checkpoint, damaged_corpus, tmp_path, capsys):
    from modeling_sla.pipeline_sla import UnscorableSessionError
    from sla_phi4.cli.score import main
    from sla_phi4.evaluation.scoring import score_corpus

    root, silenced, silenced_response, unlisted, sessions = damaged_corpus
    warned = score_corpus(str(tiny_checkpoint), str(root), "eval", str(tmp_path / "warn"), train_split=None)
    assert warned["on_unscorable"] == "warn"
    assert warned["not_scored"] == {"P1": 0, "P3": 0, "P4": 1, "P5": 0, "overall": 1}
    assert warned["missing_predictions"] == {"P1": 0, "P3": 0, "P4": 1, "P5": 0, "overall": 1}  # eval has marks
    assert warned["warnings"] == {"sessions": 2, "by_reason": {"silent": 1, "no_response": 1, "partial_session": 1}}
    assert warned["metrics"]["P4"]["count"] == sessions - 1 and warned["metrics"]["P3"]["count"] == sessions
    assert unlisted not in prediction_ids(tmp_path / "warn", "P4") + prediction_ids(tmp_path / "warn", "overall")
    assert len(prediction_ids(tmp_path / "warn", "P1")) == sessions

    skipped = score_corpus(str(tiny_checkpoint), str(root), "eval", str(tmp_path / "skip"), train_split=None,
                           on_unscorable="skip")
    assert skipped["not_scored"] == {"P1": 0, "P3": 1, "P4": 1, "P5": 0, "overall": 2}
    assert silenced not in prediction_ids(tmp_path / "skip", "P3") + prediction_ids(tmp_path / "skip", "overall")
    assert skipped["metrics"]["P1"] == warned["metrics"]["P1"]
    with pytest.raises(UnscorableSessionError, match=rf"Session {silenced}: .*{silenced_response} \(P3\) silent"):
        score_corpus(str(tiny_checkpoint), str(root), "eval", str(tmp_path / "error"), train_split=None,
                     on_unscorable="error")

    # the command line reports them under the table, and calibration reads files with sessions left out
    main(["--checkpoint", str(tiny_checkpoint), "--corpus_root", str(root), "--split", "eval", "--output_dir",
          str(tmp_path / "cli"), "--train_split", "", "--on_unscorable", "skip"])
    out = capsys.readouterr().out
    assert "Not scored (sessions): P3 1, P4 1, overall 2" in out
    assert "Warnings in 2 sessions: no_response 1, partial_session 2, silent 1, unscorable_audio 1" in out
    from sla_phi4.data.speak_improve import load_speak_improve
    from sla_phi4.evaluation.scoring import read_predictions

    rows = list(load_speak_improve(root, "eval"))
    read = read_predictions(str(tmp_path / "skip" / "predictions"), "eval", rows, ["P3", "overall"],
                            load_test_format("sandi2025"))
    assert int(np.isnan(read).sum()) == 3


# ------------------------------------------------------------------------- training that cannot learn says so
def corpus_copy(tiny_corpus, tmp_path, remove=(), empty=()):
    """The corpus with some kit files removed and others emptied (names relative to reference-materials/)."""
    import shutil

    root = tmp_path / "corpus"
    shutil.copytree(tiny_corpus, root)
    for name in remove:
        (root / "reference-materials" / name).unlink()
    for name in empty:
        (root / "reference-materials" / name).write_text("")
    return root


@pytest.fixture
def no_expensive_work(monkeypatch):
    """Fails the test if the model is loaded or the encoder cache built: the checks must come first."""
    from sla_phi4.training import trainer as train_module

    def refuse(*args, **kwargs):
        raise AssertionError("the expensive work started before the check")

    monkeypatch.setattr(train_module, "load_model", refuse)
    monkeypatch.setattr(train_module.SessionCache, "add", refuse)


TRAIN_MARKS = [f"sla-marks/train-sla-{target}.tsv" for target in ("P1", "P3", "P4", "P5", "overall")]
TRAIN_LISTS = [f"flists.flac/train-sla-{target}.tsv" for target in ("P1", "P3", "P4", "P5", "overall")]


@pytest.mark.filterwarnings("ignore:load_speak_improve")  # marks without audio, when the lists are emptied
@pytest.mark.parametrize(
    ("stage", "app_targets", "remove", "empty", "message"),
    [
        ("sla", "all", TRAIN_MARKS, (), r"no marks .*P1, P3, P4, P5, overall.* nothing to learn"),
        ("app", "all", TRAIN_MARKS, (), r"no marks that stage app learns from"),
        ("app", "overall", TRAIN_MARKS[-1:], (), r"no marks that stage app learns from"),
        ("sla", "all", (), TRAIN_LISTS, r"'train' split .* has no sessions with audio"),
    ],
)
def test_training_that_cannot_learn_fails_first(tiny_checkpoint, tiny_corpus, tmp_path, no_expensive_work,
                                                stage, app_targets, remove, empty, message):
    corpus = corpus_copy(tiny_corpus, tmp_path, remove=remove, empty=empty)
    with pytest.raises(ValueError, match=message):
        train(ModelArguments(checkpoint=str(tiny_checkpoint)), DataArguments(corpus_root=str(corpus)),
              arguments(stage, tmp_path / "out", epochs=1, app_targets=app_targets))


def test_an_output_folder_that_cannot_be_written_fails_first(tiny_checkpoint, tiny_corpus, tmp_path,
                                                             no_expensive_work):
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    with pytest.raises(ValueError, match=r"--output_dir .*a-file/out cannot be written"):
        train(ModelArguments(checkpoint=str(tiny_checkpoint)), DataArguments(corpus_root=str(tiny_corpus)),
              arguments("sla", blocker / "out", epochs=1))
    if os.geteuid() != 0:  # root writes into read-only folders
        read_only = tmp_path / "read-only"
        read_only.mkdir(mode=0o555)
        with pytest.raises(ValueError, match="cannot be written"):
            train(ModelArguments(checkpoint=str(tiny_checkpoint)), DataArguments(corpus_root=str(tiny_corpus)),
                  arguments("sla", read_only, epochs=1))


def test_an_eval_split_without_marks_trains_without_evaluation(stage_app_dir, tiny_corpus, tmp_path, capsys):
    """The real kit's eval split has no marks: this ran a full epoch, then failed with KeyError 'eval_overall_rmse'."""
    corpus = corpus_copy(tiny_corpus, tmp_path, remove=[f"sla-marks/eval-sla-{t}.tsv" for t in
                                                         ("P1", "P3", "P4", "P5", "overall")])
    trainer = train(ModelArguments(checkpoint=str(stage_app_dir)),
                    DataArguments(corpus_root=str(corpus), eval_split="eval"), arguments("sla", tmp_path / "out",
                                                                                          epochs=1))
    assert "has 0 sessions with overall marks" in capsys.readouterr().out
    assert not any("eval_loss" in entry for entry in trainer.state.log_history)
    assert trainer.args.load_best_model_at_end is False and trainer.state.best_metric is None
    assert (tmp_path / "out" / "model.safetensors").is_file()


def test_sla_train_ends_with_where_it_saved_and_the_best_epoch_and_no_noise(stage_app_dir, tiny_corpus, tmp_path,
                                                                            capfd):
    import warnings

    from sla_phi4.cli import main

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        status = main(["train", "--stage", "sla", "--checkpoint", str(stage_app_dir), "--corpus-root",
                       str(tiny_corpus), "--output-dir", str(tmp_path), "--num-train-epochs", "2",
                       "--learning_rate", "2e-3", "--use-cpu", "--disable-tqdm", "true"])
    out, err = capfd.readouterr()
    assert status == 0
    last = out.strip().splitlines()[-1]
    assert last.startswith(f"sla train: stage sla saved to {tmp_path}; best epoch ")
    assert "by overall_rmse: dev overall RMSE " in last and "sessions)." in last
    for noise in ("PAD/BOS/EOS", "original_max_position_embeddings", "pin_memory"):
        assert noise not in out + err, noise
    assert not [warning for warning in caught if "pin_memory" in str(warning.message)]


def test_pinned_memory_is_off_without_an_accelerator(tmp_path):
    assert SLATrainingArguments(output_dir=str(tmp_path), use_cpu=True).dataloader_pin_memory is False
    if not torch.accelerator.is_available():
        assert SLATrainingArguments(output_dir=str(tmp_path)).dataloader_pin_memory is False


def test_training_batching_flag_reaches_the_model(tiny_checkpoint, capsys):
    from sla_phi4.cli.train import build_parser
    from sla_phi4.training.trainer import load_model

    assert load_model(ModelArguments(checkpoint=str(tiny_checkpoint))).config.training_batching == "padded"
    model = load_model(ModelArguments(checkpoint=str(tiny_checkpoint), training_batching="per_session"))
    assert model.config.training_batching == "per_session"
    assert "--training-batching" in build_parser().format_help()
    with pytest.raises(SystemExit):
        build_parser().parse_known_args(["--training-batching", "packed"])
    assert "invalid choice: 'packed'" in capsys.readouterr().err


def test_trainer_activation_checkpointing_trains_the_same(stage_app_dir, tiny_corpus, tmp_path):
    """`sla train --activation-checkpointing true` (the Trainer's flag, for real sizes on a GPU) recomputes activations
    in the backward pass and otherwise trains exactly as without it."""
    def run(folder: str, **overrides):
        return train(ModelArguments(checkpoint=str(stage_app_dir)), DataArguments(corpus_root=str(tiny_corpus)),
                     arguments("sla", tmp_path / folder, epochs=2, lr=2e-3, save_strategy="no", eval_strategy="no",
                               load_best_model_at_end=False, **overrides))

    plain, recomputed = run("plain"), run("recomputed", activation_checkpointing=True)
    assert recomputed.model.backbone.layers[0].gradient_checkpointing
    assert not plain.model.backbone.layers[0].gradient_checkpointing
    assert epoch_losses(recomputed) == pytest.approx(epoch_losses(plain), rel=1e-5)


def test_a_model_built_from_parts_takes_the_dtype_of_its_device(tiny_checkpoint, monkeypatch):
    """Float32 on the CPU; on CUDA bfloat16 (as `sla gpu-check` trains), where the head and LoRA stay float32."""
    from modeling_sla import modeling_sla
    from sla_phi4.training.trainer import load_model

    parts = tiny_checkpoint / "parts"
    arguments = ModelArguments(backbone=str(parts / "phi4-multimodal"), app_encoder=str(parts / "whisper"))
    assert load_model(arguments).backbone.embed_tokens.weight.dtype == torch.float32
    monkeypatch.setattr(modeling_sla, "default_dtype", lambda: torch.bfloat16)  # what it gives on CUDA
    model = load_model(arguments)
    assert model.backbone.embed_tokens.weight.dtype == torch.bfloat16 and model.app.encoder.dtype == torch.bfloat16
    assert model.head.linear.weight.dtype == torch.float32
    assert {parameter.dtype for name, parameter in model.named_parameters() if ".lora_" in name} == {torch.float32}
