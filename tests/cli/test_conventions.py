"""Every `sla` subcommand behaves like the tools people know: both flag spellings, help with a description, examples
that keep their line breaks and every default, help in under a second, and errors as a tool gives them.

The walk covers every command in `COMMANDS`; a command module must have a `build_parser()` returning an
`SLAArgumentParser` (sla_phi4/cli/parser.py), which is what these tests read.
"""

import argparse
import importlib
import os
import subprocess
import sys
import time

import pytest

from sla_phi4.cli import COMMANDS, main
from sla_phi4.cli.parser import SLAArgumentParser


HELP_SECONDS = 1.0
HEAVY = ("torch", "transformers", "numpy", "gradio", "sklearn", "datasets")


def command_parser(name: str) -> argparse.ArgumentParser:
    module = importlib.import_module(f"sla_phi4.cli.{COMMANDS[name][0]}")
    assert callable(getattr(module, "build_parser", None)), f"sla {name}: its module has no build_parser()"
    parser = module.build_parser()
    assert isinstance(parser, SLAArgumentParser), f"sla {name}: build a parser with SLAArgumentParser"
    return parser


def long_flags(parser: argparse.ArgumentParser) -> list[argparse.Action]:
    return [action for action in parser._actions if any(name.startswith("--") for name in action.option_strings)
            and action.help != argparse.SUPPRESS and not isinstance(action, argparse._HelpAction)]


@pytest.mark.parametrize("name", list(COMMANDS))
def test_every_flag_takes_both_spellings_and_help_shows_the_dashed_one(name):
    parser = command_parser(name)
    formatter = parser._get_formatter()
    for action in long_flags(parser):
        options = [option for option in action.option_strings if option.startswith("--")]
        for option in options:
            for spelling in ("--" + option[2:].replace("_", "-"), "--" + option[2:].replace("-", "_")):
                assert spelling in action.option_strings, f"sla {name}: {option} without {spelling}"
        shown = formatter._format_action_invocation(action)
        assert not any(option in shown.split(", ") or option in shown.split() for option in options if "_" in option), \
            f"sla {name}: help shows {shown}"
    underscored = [option for action in long_flags(parser) for option in action.option_strings if "_" in option]
    dashed = [option.replace("_", "-") for option in underscored]
    assert len(set(underscored)) == len(set(dashed))


@pytest.mark.parametrize("name", list(COMMANDS))
def test_every_flag_has_help_and_shows_its_default(name):
    parser = command_parser(name)
    text = " ".join(parser.format_help().split())
    for action in long_flags(parser):
        assert action.help and action.help.strip(), f"sla {name}: {action.option_strings[0]} has no help"
        if action.default not in (None, False, argparse.SUPPRESS) and not action.required:
            shown = parser._get_formatter()._get_help_string(action)
            assert "default" in shown.lower(), f"sla {name}: {action.option_strings[0]} hides its default"
    assert "(default:" in text or not any(action.default not in (None, False) for action in long_flags(parser))


@pytest.mark.parametrize("name", list(COMMANDS))
def test_description_is_a_paragraph_and_examples_keep_their_line_breaks(name):
    parser = command_parser(name)
    assert parser.description and len(parser.description.split()) >= 15, f"sla {name}: no description"
    assert parser.epilog and parser.epilog.startswith("examples:\n"), f"sla {name}: no examples"
    examples = parser.epilog.splitlines()[1:]
    assert examples and all(line.startswith("  ") for line in examples)
    help_lines = parser.format_help().splitlines()
    for line in examples:
        assert line in help_lines, f"sla {name}: the example line {line!r} was re-wrapped"
    assert "sla " + name in parser.epilog
    for internal in ("train.py --", "shards.py", "scripts/"):
        assert internal not in parser.format_help(), f"sla {name}: help names {internal}"


def fresh_help(argv: list[str]) -> tuple[float, subprocess.CompletedProcess]:
    code = ("import sys, time; start = time.perf_counter()\n"
            "from sla_phi4.cli import main\n"
            "try:\n    main(sys.argv[1:])\nexcept SystemExit:\n    pass\n"
            f"print('HEAVY', sorted(m for m in {HEAVY!r} if m in sys.modules), time.perf_counter() - start)")
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    start = time.perf_counter()
    result = subprocess.run([sys.executable, "-c", code, *argv], capture_output=True, text=True, env=env,
                            timeout=120)
    return time.perf_counter() - start, result


@pytest.mark.parametrize("name", ["", *COMMANDS])
def test_help_answers_in_under_a_second_in_a_fresh_process(name):
    argv = [name, "--help"] if name else ["--help"]
    seconds, result = fresh_help(argv)
    assert result.returncode == 0, result.stderr[-2000:]
    heavy_line = result.stdout.strip().splitlines()[-1]
    assert heavy_line.startswith("HEAVY []"), f"sla {name} --help imports {heavy_line}"
    assert seconds < HELP_SECONDS, f"sla {name} --help took {seconds:.2f} s"


def test_train_help_shows_the_packages_flags_first_in_groups_then_the_trainers():
    text = command_parser("train").format_help()
    headings = [line.rstrip(":") for line in text.splitlines() if line and not line.startswith(" ")
                and line.endswith(":")]
    order = ["stage", "data", "model", "LoRA", "APP (Acoustic Proficiency Prior)",
             "Trainer flags this package sets (transformers.TrainingArguments)", "examples"]
    assert [heading for heading in headings if heading in order] == order
    lines = text.splitlines()
    assert next(index for index, line in enumerate(lines) if line.strip().startswith("--stage")) < 45
    assert len(lines) < 200
    assert "--help-trainer" in text


def test_train_help_trainer_lists_every_training_argument(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["train", "--help-trainer"])
    assert exit_info.value.code == 0
    text = capsys.readouterr().out
    for flag in ("--gradient-accumulation-steps", "--seed", "--report-to", "--stage", "--num-train-epochs"):
        assert flag in text, flag


# ------------------------------------------------------------------------------------------------------ errors
def test_an_input_error_is_two_lines_on_stderr_and_exit_status_2(tmp_path, capsys):
    status = main(["card", "--checkpoint", str(tmp_path), "--report", str(tmp_path / "missing.json")])
    err = capsys.readouterr().err
    assert status == 2
    assert err.splitlines() == [f"sla card: error: No such file or directory: {tmp_path / 'missing.json'}",
                                "(run again with --debug or SLA_DEBUG=1 for the traceback)"]
    assert "Traceback" not in err


def test_debug_flag_and_variable_show_the_traceback(tmp_path, capsys, monkeypatch):
    argv = ["card", "--checkpoint", str(tmp_path), "--report", str(tmp_path / "missing.json")]
    assert main(["--debug", *argv]) == 2
    assert "Traceback" in capsys.readouterr().err
    assert main([*argv, "--debug"]) == 2
    assert "Traceback" in capsys.readouterr().err
    monkeypatch.setenv("SLA_DEBUG", "1")
    assert main(argv) == 2
    assert "Traceback" in capsys.readouterr().err


def test_an_unexpected_failure_prints_its_traceback_and_exit_status_1(monkeypatch, capsys):
    from sla_phi4.cli import card

    def broken(argv=None):
        raise RuntimeError("a defect, not the user's input")

    monkeypatch.setattr(card, "main", broken)
    assert main(["card"]) == 1
    err = capsys.readouterr().err
    assert "Traceback" in err and "RuntimeError: a defect" in err


def test_a_missing_optional_package_names_the_extra(monkeypatch, capsys):
    from sla_phi4.cli import card

    def needs(argv=None):
        raise ModuleNotFoundError("synthetic speech needs espeakng-loader: pip install 'sla-phi4[tts]'",
                                  name="espeakng_loader")

    monkeypatch.setattr(card, "main", needs)
    assert main(["card"]) == 2
    assert "sla-phi4[tts]" in capsys.readouterr().err.splitlines()[0]


def test_usage_errors_of_the_parser_are_argparses(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["card", "--checkpoint", "x"])
    assert exit_info.value.code == 2 and "--report" in capsys.readouterr().err


def test_a_trainer_debug_value_is_not_taken_for_sla_debug():
    from sla_phi4.cli.errors import debug_requested, without_debug_flag

    assert without_debug_flag(["--debug", "underflow_overflow", "--x"]) == ["--debug", "underflow_overflow", "--x"]
    assert without_debug_flag(["--x", "--debug"]) == ["--x"]
    assert debug_requested(["--debug"]) and not debug_requested(["--debug", "underflow_overflow"])


def test_a_missing_module_says_which_extra_installs_it(monkeypatch, capsys):
    from sla_phi4.cli import card

    def needs_gradio(argv=None):
        raise ModuleNotFoundError("No module named 'gradio'", name="gradio")

    monkeypatch.setattr(card, "main", needs_gradio)
    assert main(["card"]) == 2
    assert capsys.readouterr().err.splitlines()[0] == (
        "sla card: error: this needs the Python module 'gradio', which is not installed: pip install 'sla-phi4[space]'")
