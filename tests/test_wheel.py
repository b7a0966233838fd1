"""The package as a user gets it: the wheel, installed with its `dev` extra into a fresh virtual environment, runs
the whole life from a folder outside the checkout through the one `sla` command, and the trained model then scores
through `pipeline(..., trust_remote_code=True)` in a process where none of the three packages can be imported.

This installs a second environment (torch pinned as .ci/run pins it; pip's cache makes it a few minutes) and is the
slowest test of the suite."""

import json
import os
import re
import subprocess
import sys
import textwrap
import zipfile
from pathlib import Path

import pytest


REPO = Path(__file__).resolve().parents[1]
TORCH = "torch==2.13.0"  # as .ci/run: a CPU wheel on these machines


def readme_commands(heading: str) -> list[str]:
    """The `sla` lines of the README's bash block under `## heading`, comments removed."""
    section = (REPO / "README.md").read_text().split(f"## {heading}\n", 1)[1]
    block = re.search(r"```bash\n(.*?)```", section, re.S).group(1)
    return [line.split("  #")[0].strip() for line in block.splitlines() if line.startswith("sla ")]


def run(command: list[str], cwd: Path, env: dict, timeout: int = 900) -> str:
    result = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    assert result.returncode == 0, f"{' '.join(command)}\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
    return result.stdout


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    dist = tmp_path_factory.mktemp("dist")
    run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(dist), str(REPO)], cwd=dist,
        env=dict(os.environ))
    (path,) = dist.glob("sla_phi4-*.whl")
    return path


@pytest.fixture(scope="module")
def venv(wheel, tmp_path_factory) -> Path:
    """A fresh environment with the wheel and its dev extra; nothing of the checkout on its path."""
    root = tmp_path_factory.mktemp("venv")
    subprocess.run([sys.executable, "-m", "venv", str(root)], check=True)
    pip = [str(root / "bin" / "python"), "-m", "pip", "install", "-q"]
    env = {key: value for key, value in os.environ.items() if key not in ("PYTHONPATH", "VIRTUAL_ENV")}
    run([*pip, TORCH], cwd=root, env=env)
    run([*pip, f"{wheel}[dev]"], cwd=root, env=env)
    return root


def test_the_reference_test_format_ships_as_its_content(wheel):
    shipped = json.loads(zipfile.ZipFile(wheel).read("processing_sla/reference_test_format_sla.json"))
    assert shipped == json.loads((REPO / "modeling_sla" / "test_formats" / "sandi2025.json").read_text())


def test_wheel_holds_the_package_data_and_no_tests(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    for needed in ("sla_phi4/hub_card/model_card_template.md", "sla_phi4/hub_card/repo_files.json",
                   "sla_phi4/hub_card/released_models.json", "sla_phi4/hub_card/sla_scoring/sla_scoring.py",
                   "sla_phi4/analysis/backbones/phi4_multimodal.json", "sla_phi4/analysis/real_size.json",
                   "sla_phi4/benchmarks/gpu_check.json", "sla_phi4/conversion/ct2_whisper_packages.json",
                   "sla_phi4/testing/stand_ins/tiny_sizes.json", "processing_sla/assessability_thresholds.json",
                   "modeling_sla/modeling_sla.py", "sla_phi4/space/words.json", "sla_phi4/space/interface.py",
                   "sla_phi4/hub_card/demo_space/app.py", "sla_phi4/hub_card/demo_space/README.md",
                   "sla_phi4/hub_card/demo_space/requirements.txt", "sla_phi4/hub_card/card_settings.json",
                   "sla_phi4/evaluation/recalibration.json", "processing_sla/reference_test_format_sla.json",
                   *(f"sla_phi4/accelerate_configs/{name}" for name in ("ddp.yaml", "fsdp.yaml",
                                                                         "deepspeed_zero2.yaml", "cpu_2proc.yaml"))):
        assert needed in names, needed
    assert not any(name.startswith(("tests/", "scripts/")) for name in names)
    entry_points = next(name for name in names if name.endswith("entry_points.txt"))
    assert "sla = sla_phi4.cli:main" in zipfile.ZipFile(wheel).read(entry_points).decode()


@pytest.mark.slow
def test_the_whole_life_from_a_wheel(venv, tmp_path):
    bin_dir = venv / "bin"
    env = {"PATH": f"{bin_dir}:/usr/bin:/bin", "HOME": os.environ.get("HOME", str(tmp_path)),
           "HF_HOME": str(tmp_path / "hf-home"), "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1",
           "OMP_NUM_THREADS": "1", "MPLBACKEND": "Agg", "SLA_CACHE_DIR": os.environ.get("SLA_CACHE_DIR", "")}
    env = {key: value for key, value in env.items() if value}
    work = tmp_path / "user"
    work.mkdir()
    where = run([str(bin_dir / "python"), "-c", "import sla_phi4; print(sla_phi4.__file__)"], work, env)
    assert str(venv) in where and str(REPO) not in where

    demo = run(["sla", "demo", "--quick", "--workdir", "demo"], work, env)
    assert "x the pooled-Whisper ridge" in demo
    assert (work / "demo" / "model" / "README.md").is_file()

    run(["sla", "build-tiny", "--output", "tiny-sla", "--backbone", "voxtral", "--audio-tower", "random"], work, env)
    commands = readme_commands("Train and score")
    assert [line.split()[1] for line in commands] == ["make-corpus", "train", "train", "score"]
    for line in commands:
        flags = ["--num_train_epochs", "1", "--disable_tqdm", "true"] if line.startswith("sla train") else []
        run([*line.split(), *flags], work, env)
    report = json.loads((work / "reports" / "eval" / "eval_report.json").read_text())
    assert report["num_sessions"] > 0 and "overall" in report["metrics"]

    run(["sla", "card", "--checkpoint", "runs/sla", "--report", "reports/eval/eval_report.json", "--repo-id",
         "someone/sla-tiny"], work, env)
    assert "Speak & Improve" in (work / "runs" / "sla" / "README.md").read_text()
    dry_run = run(["sla", "push", "--checkpoint", "runs/sla", "--repo-id", "someone/sla-tiny", "--dry-run"],
                  work, env)
    assert "model.safetensors" in dry_run and "config.json" in dry_run

    isolated = textwrap.dedent(
        """
        import json, sys
        for name in ("modeling_sla", "processing_sla", "sla_phi4"):
            sys.modules[name] = None  # none of the project's packages may be imported
        import numpy as np
        from transformers import pipeline

        scorer = pipeline(model=sys.argv[1], trust_remote_code=True)
        rng = np.random.default_rng(0)
        clip = lambda seconds: (0.1 * rng.standard_normal(int(16000 * seconds))).astype(np.float32)
        session = {"session_id": "w", "responses": [{"part": part, "audio": clip(1.5), "question": None}
                                                     for part in ("P1", "P3", "P4", "P5")]}
        print(json.dumps(scorer(session), allow_nan=False))
        """
    )
    (work / "isolated.py").write_text(isolated)
    result = json.loads(run([str(bin_dir / "python"), "-I", "isolated.py", "runs/sla"], work, env).splitlines()[-1])
    assert set(result["scores"]) == {"P1", "P3", "P4", "P5", "overall"}
    assert all(2.0 <= value <= 5.5 for value in result["scores"].values())


def user_env(venv: Path, tmp_path: Path) -> dict:
    env = {"PATH": f"{venv / 'bin'}:/usr/bin:/bin", "HOME": os.environ.get("HOME", str(tmp_path)),
           "HF_HOME": str(tmp_path / "hf-home"), "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1", "MPLBACKEND": "Agg",
           "SLA_CACHE_DIR": str(tmp_path / "sla-cache")}
    return env


def fails(command: list[str], cwd: Path, env: dict) -> str:
    """Runs a command that must stop as an input error: exit status 2, one or two lines on stderr."""
    result = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=600)
    assert result.returncode == 2, f"{' '.join(command)}\n{result.stdout[-2000:]}\n{result.stderr[-2000:]}"
    assert "Traceback" not in result.stderr and len(result.stderr.strip().splitlines()) <= 2, result.stderr
    return result.stderr


@pytest.mark.slow
def test_each_extra_brings_its_commands(wheel, tmp_path):
    """The wheel alone, then each extra added on its own: a command that needs an extra says which before it writes
    anything, and runs once that extra is installed."""
    root = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(root)], check=True)
    pip = [str(root / "bin" / "python"), "-m", "pip", "install", "-q"]
    host = {key: value for key, value in os.environ.items() if key not in ("PYTHONPATH", "VIRTUAL_ENV")}
    run([*pip, TORCH, str(wheel)], cwd=tmp_path, env=host)
    env, work = user_env(root, tmp_path), tmp_path / "user"
    work.mkdir()
    assert "sla-phi4[tts]" in fails(["sla", "build-tiny", "--output", "tiny-sla"], work, env)
    assert not (work / "tiny-sla").exists()
    assert "sla-phi4[tts]" in fails(["sla", "make-corpus", "--output", "corpus", "--sessions", "4"], work, env)
    assert "sla-phi4[whisper]" in fails(["sla", "convert-whisper", "--package", "whisper-tiny.en"], work, env)
    assert "gradio" in fails(["sla", "demo-space", "--model", "tiny"], work, env)
    run(["sla", "build-tiny", "--output", "tiny-vox", "--backbone", "voxtral", "--audio-tower", "random"], work, env)

    run([*pip, f"{wheel}[tts]"], cwd=tmp_path, env=host)
    run(["sla", "build-tiny", "--output", "tiny-sla"], work, env)
    run(["sla", "make-corpus", "--output", "corpus", "--sessions", "4", "--duration-scale", "0.05", "--quiet"],
        work, env)

    run([*pip, f"{wheel}[whisper]"], cwd=tmp_path, env=host)
    assert "Whisper folder" in run(["sla", "convert-whisper", "--package", "whisper-tiny.en", "--output", "w"],
                                   work, env)

    run([*pip, f"{wheel}[space]"], cwd=tmp_path, env=host)
    code = "from sla_phi4.space.interface import build_app; from sla_phi4.hub.demo_space import space_files"
    run([str(root / "bin" / "python"), "-c", code], work, env)
