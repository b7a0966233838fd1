"""The one `sla` command: every step of the life is a subcommand, `python -m sla_phi4` and the scripts are the same
thing, and the layout rules hold (no `sys.path` edits, scripts import only the command layer, the remote code
imports nothing of the project)."""

import ast
import importlib
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from sla_phi4.cli import COMMANDS, build_parser, main


REPO = Path(__file__).resolve().parents[2]
LIFE = ("demo", "build-tiny", "convert-whisper", "make-corpus", "train", "score", "card", "push", "benchmark",
        "gpu-check", "ablation", "measure-assessability")


def python_files(*folders: str) -> list[Path]:
    return [path for folder in folders for path in sorted((REPO / folder).rglob("*.py"))]


def test_every_step_of_the_life_is_a_subcommand_with_a_main():
    assert set(LIFE) <= set(COMMANDS)
    for name, (module, summary) in COMMANDS.items():
        assert callable(importlib.import_module(f"sla_phi4.cli.{module}").main), name
        assert summary and name in build_parser().format_help()


def test_command_help_names_the_subcommand(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["make-corpus", "--help"])
    assert exit_info.value.code == 0
    assert capsys.readouterr().out.startswith("usage: sla make-corpus")


def test_unknown_command_and_bad_flags_fail(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["no-such-step"])
    assert exit_info.value.code == 2 and "invalid choice" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exit_info:
        main(["score", "--checkpoint", "x"])  # --corpus_root and --output_dir are required
    assert exit_info.value.code == 2 and "required" in capsys.readouterr().err


def test_exit_status_of_a_command_is_the_commands(tmp_path, capsys):
    assert main(["convert-whisper", str(tmp_path), "--output", str(tmp_path / "out")]) == 2  # an input error
    assert "error:" in capsys.readouterr().err


def test_module_entry_and_scripts_run_the_same_command(tmp_path):
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    runs = {"module": [sys.executable, "-m", "sla_phi4", "make-corpus", "--help"],
            "script": [sys.executable, str(REPO / "scripts" / "make_synthetic_corpus.py"), "--help"]}
    outputs = {}
    for kind, command in runs.items():
        result = subprocess.run(command, capture_output=True, text=True, cwd=tmp_path, env=env, timeout=120)
        assert result.returncode == 0, result.stderr
        outputs[kind] = result.stdout
    assert outputs["module"] == outputs["script"]
    version = subprocess.run([sys.executable, "-m", "sla_phi4", "--version"], capture_output=True, text=True, env=env)
    assert re.fullmatch(r"sla \d+\.\d+\.\d+\n", version.stdout)


def test_each_script_is_a_thin_entry_into_one_subcommand():
    for path in python_files("scripts"):
        tree = ast.parse(path.read_text())
        imported = {node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
        assert imported == {"sla_phi4.cli"}, path.name
        command = re.search(r'main\(\["([a-z-]+)"', path.read_text()).group(1)
        assert command in COMMANDS, path.name
        assert len(path.read_text().splitlines()) <= 12, f"{path.name} is more than an entry"


def test_nothing_edits_sys_path():
    edit = re.compile(r"sys\.path\s*(\.(insert|append|extend)|\[[^]]*\]\s*=|\s*=|\s*\+=)")
    offenders = [str(path.relative_to(REPO)) for path in
                 python_files("scripts", "tests", "sla_phi4", "modeling_sla", "processing_sla")
                 if edit.search(path.read_text())]
    assert offenders == []


def test_remote_code_imports_only_its_own_files_and_installed_libraries():
    for package in ("modeling_sla", "processing_sla"):
        for path in python_files(package):
            for node in ast.walk(ast.parse(path.read_text())):
                if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                    assert node.module.split(".")[0] not in ("modeling_sla", "processing_sla", "sla_phi4"), \
                        f"{path.relative_to(REPO)} imports {node.module}"
                if isinstance(node, ast.Import):
                    assert not any(alias.name.split(".")[0] in ("modeling_sla", "processing_sla", "sla_phi4")
                                   for alias in node.names), path


def test_importing_the_processor_pulls_in_no_dataset_or_plotting_library():
    code = ("import sys, processing_sla; print(sorted({m.split('.')[0] for m in sys.modules} & "
            "{'datasets', 'matplotlib', 'sla_phi4', 'sklearn'}))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                            env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"
