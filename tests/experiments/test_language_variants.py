"""The language study's arms: one corpus and sizes for all, micro-batches for the pretrained language model at the
CPU sizes (its batch of 8 does not fit 24 GB), and the trainer stepping as the settings say."""

import pytest

from sla_phi4.experiments.demo import training_arguments
from sla_phi4.experiments.settings import DemoSettings
from sla_phi4.experiments.studies.language import CPU_MICRO_BATCHES, CPU_SIZES, variants
from sla_phi4.experiments.studies.runs import StudySettings, demo_settings, run_name


def test_pretrained_arms_step_in_micro_batches_at_the_cpu_sizes():
    study = StudySettings(study="language", workdir="w")
    random_decoder, unaligned, aligned = variants(study, "content-only")
    assert "batch_size" not in random_decoder.overrides  # the measured (a) runs keep their settings and folders
    for arm in (unaligned, aligned):
        settings = demo_settings(study, arm, seed=0)
        assert (settings.batch_size, settings.gradient_accumulation) == (2, 4)
        assert settings.batch_size * settings.gradient_accumulation == DemoSettings.batch_size
        assert settings.sessions == CPU_SIZES["sessions"] and settings.cue_profile == "content-only"
        assert "batch_size-2_" in run_name(study, arm, 0)
    assert CPU_MICRO_BATCHES["batch_size"] < DemoSettings.batch_size
    quick = variants(StudySettings(study="language", workdir="w", quick=True), "default")  # the smoke run, too
    assert [demo_settings(study, arm, 0).batch_size for arm in quick] == [DemoSettings.batch_size, 2, 2]
    assert all("sessions" not in arm.overrides for arm in quick)
    full = variants(StudySettings(study="language", workdir="w", full_size=True), "default")
    assert all("batch_size" not in arm.overrides and "sessions" not in arm.overrides for arm in full)


def test_training_arguments_take_the_micro_batches(tmp_path):
    settings = DemoSettings(workdir=str(tmp_path), batch_size=2, gradient_accumulation=4)
    arguments = training_arguments(settings, "sla", str(tmp_path / "out"), 1.0, 1e-3)
    assert (arguments.per_device_train_batch_size, arguments.gradient_accumulation_steps) == (2, 4)
    with pytest.raises(ValueError, match="at least 1"):
        DemoSettings(workdir=str(tmp_path), gradient_accumulation=0)
