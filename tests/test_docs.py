"""The documentation works as written: README.md and every page of docs/.

Fenced blocks are told apart by their info string, the text after the opening ```:

    python          Runs as written, each block in a fresh subprocess of this interpreter: the installed package
                    (no PYTHONPATH), an empty working folder, offline, with "tiny-sla" replaced by the folder of the
                    test session's tiny checkpoint. If its last line is `# prints: TEXT`, the last line it prints
                    must be TEXT.
    python no-run   Shown, not run: it needs what these machines lack (the Hub's real repos, the real S&I kit, a
                    GPU). Counted; a python block with any other marker fails.
    bash            Every `sla ...` command (also `.venv/bin/sla`, after `&&`, `python -m sla_phi4 ...` and
                    `accelerate launch ... -m sla_phi4 ...`) must name a real subcommand whose own parser accepts
                    its flags. Commands are parsed, never run (`parse_only`). No block may run `scripts/*.py`.
    text, bibtex, yaml, json, jinja
                    Not code.

A fence without an info string fails. Relative links must point to existing files (and `#anchors` to headings of
them), repository paths and `sla_phi4` / `modeling_sla` / `processing_sla` names in backticks must exist, and the
README keeps the shape the other tests rely on (tests/test_wheel.py runs its *Train and score* lines verbatim).
"""

import argparse
import ast
import contextlib
import importlib
import io
import os
import re
import shlex
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from unittest import mock

import pytest


REPO = Path(__file__).resolve().parents[1]
PAGES = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]
RUN, NO_RUN = "python", "python no-run"
NOT_CODE = {"text", "bibtex", "yaml", "json", "jinja"}
PRINTS = "# prints: "
TRAIN_AND_SCORE = [
    "sla make-corpus --output corpus --sessions 12 --duration-scale 0.1",
    "sla train --stage app --checkpoint tiny-sla --corpus_root corpus --output_dir runs/app",
    "sla train --stage sla --checkpoint runs/app --corpus_root corpus --output_dir runs/sla",
    "sla score --checkpoint runs/sla --corpus_root corpus --split eval --output_dir reports/eval",
]
# Names of the former layout that must not come back.
STALE = ("configs/backbones", "configs/tiny_sizes.json", "processing_sla.espeak_tts", "processing_sla.speak_improve",
         "processing_sla.synthetic_corpus", "processing_sla import load_speak_improve", "scripts/stand_ins",
         "modeling_sla.convert_ct2_whisper", "modeling_sla/convert_ct2_whisper")


# ------------------------------------------------------------------------------------------------ reading pages
@dataclass
class Block:
    page: Path
    line: int  # of the opening fence, 1-based
    info: str
    code: str

    @property
    def name(self) -> str:
        return f"{self.page.relative_to(REPO)}:{self.line}"


def blocks(page: Path) -> list[Block]:
    """The fenced blocks of a page (fences may be indented, inside list items)."""
    found, lines, index = [], page.read_text(encoding="utf-8").splitlines(), 0
    while index < len(lines):
        opening = re.match(r"^(\s*)```(.*)$", lines[index])
        if not opening:
            index += 1
            continue
        indent, info, start, body = len(opening.group(1)), opening.group(2).strip(), index, []
        index += 1
        while index < len(lines) and not re.match(r"^\s*```\s*$", lines[index]):
            body.append(lines[index][indent:] if lines[index][:indent].strip() == "" else lines[index])
            index += 1
        assert index < len(lines), f"{page.relative_to(REPO)}:{start + 1}: unclosed fence"
        found.append(Block(page, start + 1, info, "\n".join(body) + "\n"))
        index += 1
    return found


def prose(page: Path) -> list[tuple[int, str]]:
    """(line number, text) of a page outside its fenced blocks."""
    result, fenced = [], False
    for number, line in enumerate(page.read_text(encoding="utf-8").splitlines(), start=1):
        if re.match(r"^\s*```", line):
            fenced = not fenced
        elif not fenced:
            result.append((number, line))
    return result


ALL_BLOCKS = [block for page in PAGES for block in blocks(page)]
RUNNABLE = [block for block in ALL_BLOCKS if block.info == RUN]
MARKED = [block for block in ALL_BLOCKS if block.info == NO_RUN]


# ------------------------------------------------------------------------------------------------ fences
def test_every_block_is_runnable_or_marked():
    unlabelled = [block.name for block in ALL_BLOCKS if not block.info]
    assert not unlabelled, f"fences without an info string (python, python no-run, bash, text, ...): {unlabelled}"
    python = [block for block in ALL_BLOCKS if block.info.split()[0] == "python"]
    neither = [f"{block.name} ({block.info!r})" for block in python if block.info not in (RUN, NO_RUN)]
    assert not neither, f"python blocks neither runnable nor marked `{NO_RUN}`: {neither}"
    other = [f"{block.name} ({block.info!r})" for block in ALL_BLOCKS
             if block.info.split()[0] not in {"python", "bash", *NOT_CODE}]
    assert not other, f"unknown fence languages: {other}"
    assert len(RUNNABLE) + len(MARKED) == len(python)
    assert RUNNABLE and MARKED, (len(RUNNABLE), len(MARKED))


# ------------------------------------------------------------------------------------------------ python blocks
@pytest.fixture(scope="session")
def snippet_runs(tiny_checkpoint, tmp_path_factory) -> dict:
    """Every runnable block's finished process, by block name; the blocks run side by side (one per core)."""
    env = {"PATH": f"{Path(sys.executable).parent}{os.pathsep}/usr/bin{os.pathsep}/bin",
           "HOME": os.environ.get("HOME", str(tmp_path_factory.getbasetemp())), "HF_HOME": os.environ["HF_HOME"],
           "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "OMP_NUM_THREADS": "1", "MPLBACKEND": "Agg",
           "TRANSFORMERS_NO_ADVISORY_WARNINGS": "1"}
    if os.environ.get("SLA_CACHE_DIR"):
        env["SLA_CACHE_DIR"] = os.environ["SLA_CACHE_DIR"]

    def run(block: Block) -> subprocess.CompletedProcess:
        folder = tmp_path_factory.mktemp("snippet")  # outside the checkout: the package must come from the install
        script = folder / "snippet.py"
        script.write_text(block.code.replace('"tiny-sla"', repr(str(tiny_checkpoint))), encoding="utf-8")
        return subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=300,
                              cwd=folder, env=env, check=False)

    with ThreadPoolExecutor(max_workers=max(1, min(4, os.cpu_count() or 1))) as pool:
        return dict(zip([block.name for block in RUNNABLE], pool.map(run, RUNNABLE)))


@pytest.mark.parametrize("block", RUNNABLE, ids=lambda block: block.name)
def test_python_block_runs(block, snippet_runs):
    result = snippet_runs[block.name]
    assert result.returncode == 0, f"{block.name} failed:\n{result.stderr[-4000:]}"
    last = block.code.rstrip().splitlines()[-1].strip()
    if last.startswith(PRINTS):
        printed = result.stdout.strip().splitlines()
        assert printed and printed[-1].strip() == last[len(PRINTS):].strip(), result.stdout[-2000:]


def test_readme_score_a_session_prints_five_scores(snippet_runs):
    section = (REPO / "README.md").read_text(encoding="utf-8").split("## Score a session\n", 1)[1].split("\n## ")[0]
    (block,) = [block for block in RUNNABLE if block.page.name == "README.md" and block.code.strip() in section]
    assert 'folder = "tiny-sla"' in block.code
    result = snippet_runs[block.name]
    assert result.returncode == 0, result.stderr[-3000:]
    scores = ast.literal_eval(result.stdout.strip().splitlines()[-1])
    assert list(scores) == ["P1", "P3", "P4", "P5", "overall"]
    assert all(isinstance(value, float) for value in scores.values())


# ------------------------------------------------------------------------------------------------ sla lines
@dataclass
class Command:
    name: str  # page:line
    text: str
    argv: list  # after `sla`


def sla_commands(block: Block) -> list[Command]:
    """The `sla` invocations of a bash block, each with its arguments."""
    found, logical, start = [], "", None
    for number, line in enumerate(block.code.splitlines(), start=block.line + 1):
        start = number if not logical else start
        logical += line.rstrip()
        if logical.endswith("\\"):
            logical = logical[:-1] + " "
            continue
        text, logical = logical.strip(), ""
        if not text or text.startswith("#"):
            continue
        tokens = shlex.split(text, comments=True)
        segments, current = [], []
        for token in tokens:
            if token in ("&&", "||", ";", "|"):
                segments.append(current)
                current = []
            else:
                current.append(token)
        segments.append(current)
        for segment in segments:
            while segment and re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*=.*", segment[0]):
                segment = segment[1:]  # VAR=value before the command
            if not segment:
                continue
            name = f"{block.page.relative_to(REPO)}:{start}"
            assert not any(token.startswith("scripts/") for token in segment), (
                f"{name}: the docs run `sla ...`, not the former scripts: {text}")
            if os.path.basename(segment[0]) == "sla":
                found.append(Command(name, text, segment[1:]))
            elif "-m" in segment and segment.index("-m") + 1 < len(segment) and \
                    segment[segment.index("-m") + 1] == "sla_phi4":
                found.append(Command(name, text, segment[segment.index("-m") + 2:]))
    return found


ALL_COMMANDS = [command for block in ALL_BLOCKS if block.info == "bash" for command in sla_commands(block)]


class Parsed(Exception):
    """Raised where a command's parser has returned, before the command would run."""

    def __init__(self, result):
        super().__init__("parsed")
        self.result = result


def _stop_after(original):
    def parse(*args, **kwargs):
        raise Parsed(original(*args, **kwargs))

    return parse


def parse_only(argv: list[str]):
    """Parses `sla ARGV` as `sla_phi4.cli.main` does, and stops once the command's own parser has read the flags.

    `main` picks the subcommand with `build_parser()` and hands the rest to that module's `main(argv)`, which builds
    its parser and then calls the library. Here the parsing step raises `Parsed` as soon as it returns, so the
    library is never reached. The step is `HfArgumentParser.parse_args_into_dataclasses` (`train`, `demo`: the
    dataclasses are built and their `__post_init__` checks run); a module's own `parse_args()` where it has one, so
    that its checks after argparse run too (`convert-whisper`, `gpu-check`); else `ArgumentParser.parse_args`.
    `gpu-check` refuses to parse without a CUDA device, so `torch.cuda.is_available` reads True meanwhile (nothing
    touches a device: the library is never called). Returns the parsed result, or "help" for `--help`; a flag the
    parser rejects raises SystemExit(2) with argparse's message on stderr."""
    import torch
    from transformers import HfArgumentParser

    from sla_phi4.cli import COMMANDS, build_parser

    try:
        chosen, rest = build_parser().parse_known_args(argv)
    except SystemExit as exit_info:
        if exit_info.code == 0 and ("--help" in argv or "-h" in argv):
            return "help"
        raise
    module = importlib.import_module(f"sla_phi4.cli.{COMMANDS[chosen.command][0]}")
    with contextlib.ExitStack() as stack:
        if chosen.command == "gpu-check":
            stack.enter_context(mock.patch.object(torch.cuda, "is_available", return_value=True))
        stack.enter_context(mock.patch.object(HfArgumentParser, "parse_args_into_dataclasses",
                                              _stop_after(HfArgumentParser.parse_args_into_dataclasses)))
        if callable(getattr(module, "parse_args", None)):
            stack.enter_context(mock.patch.object(module, "parse_args", _stop_after(module.parse_args)))
        else:
            stack.enter_context(mock.patch.object(argparse.ArgumentParser, "parse_args",
                                                  _stop_after(argparse.ArgumentParser.parse_args)))
        try:
            module.main(rest)
        except Parsed as parsed:
            return parsed.result
        except SystemExit as exit_info:
            if exit_info.code == 0 and {"--help", "-h", "--help-trainer"} & set(rest):
                return "help"
            raise
    raise AssertionError(f"sla {' '.join(argv)}: the command ran without parsing its flags first")


@pytest.mark.parametrize("command", ALL_COMMANDS, ids=lambda command: command.name)
def test_sla_line_parses(command):
    stderr, stdout = io.StringIO(), io.StringIO()
    try:
        with contextlib.redirect_stderr(stderr), contextlib.redirect_stdout(stdout):
            parse_only(command.argv)
    except SystemExit as exit_info:
        pytest.fail(f"{command.name}: `{command.text}` does not parse (exit {exit_info.code}):\n{stderr.getvalue()}")


def test_parse_only_refuses_what_the_commands_refuse():
    """The check above has teeth: unknown commands, unknown flags, bad choices and missing flags all fail."""
    for argv in (["no-such-step"], ["train", "--no_such_flag", "1"], ["score", "--checkpoint", "x"],
                 ["convert-whisper", "--package", "whisper-huge"], ["convert-whisper", "src"],
                 ["make-corpus", "--output", "x", "--sessions", "many"], ["gpu-check", "--backbone", "gpt2"]):
        with contextlib.redirect_stderr(io.StringIO()), pytest.raises(SystemExit) as exit_info:
            parse_only(argv)
        assert exit_info.value.code == 2, argv
    training = parse_only(TRAIN_AND_SCORE[1].split()[1:])
    assert [type(part).__name__ for part in training] == ["ModelArguments", "DataArguments", "SLATrainingArguments"]
    assert training[2].stage == "app" and training[1].corpus_root == "corpus"


def test_every_command_is_documented():
    from sla_phi4.cli import COMMANDS

    documented = {command.argv[0] for command in ALL_COMMANDS if command.argv and not command.argv[0].startswith("-")}
    assert set(COMMANDS) <= documented, f"no bash line runs: {sorted(set(COMMANDS) - documented)}"
    table = (REPO / "docs" / "commands.md").read_text(encoding="utf-8")
    missing = [name for name in COMMANDS if f"| `sla {name}` |" not in table]
    assert not missing, f"docs/commands.md has no line for: {missing}"


# ------------------------------------------------------------------------------------------------ links, names
def slug(heading: str) -> str:
    """GitHub's anchor of a heading."""
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", heading.strip().lower())
    return re.sub(r"[^\w\- ]", "", text).replace(" ", "-")


def anchors(page: Path) -> set[str]:
    seen, result = {}, set()
    for _, line in prose(page):
        heading = re.match(r"^#{1,6}\s+(.*?)\s*#*\s*$", line)
        if heading:
            base = slug(heading.group(1))
            count = seen.get(base, 0)
            seen[base] = count + 1
            result.add(base if count == 0 else f"{base}-{count}")
    return result


def without_inline_code(line: str) -> str:
    return re.sub(r"`[^`]*`", "", line)


def test_relative_links_resolve():
    broken = []
    for page in PAGES:
        for number, line in prose(page):
            for target in re.findall(r"\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)", without_inline_code(line)):
                if re.match(r"^[a-z][a-z0-9+.-]*:", target):  # https:, mailto:
                    continue
                path, _, anchor = target.partition("#")
                resolved = (page.parent / path).resolve() if path else page
                where = f"{page.relative_to(REPO)}:{number}: {target}"
                if not resolved.exists():
                    broken.append(f"{where} (no such file)")
                elif anchor and resolved.suffix == ".md" and anchor not in anchors(resolved):
                    broken.append(f"{where} (no such heading)")
    assert not broken, "\n".join(broken)


def code_spans() -> list[tuple[str, str]]:
    return [(f"{page.relative_to(REPO)}:{number}", span) for page in PAGES for number, line in prose(page)
            for span in re.findall(r"`([^`]+)`", line)]


def test_paths_and_names_in_backticks_exist():
    missing = []
    for where, span in code_spans():
        if re.fullmatch(r"(modeling_sla|processing_sla|sla_phi4|hub_card|tests|configs|scripts|docs|\.ci)/\S*", span):
            if re.search(r"[<>{}*|\[\]]|\.\.\.", span):
                continue  # a pattern, not one path
            if not (REPO / span.rstrip("/")).exists():
                missing.append(f"{where}: {span}")
        name = re.fullmatch(r"((?:sla_phi4|modeling_sla|processing_sla)(?:\.\w+)+)(\(.*\))?", span)
        if name:
            parts = name.group(1).split(".")
            for cut in range(len(parts), 0, -1):
                try:
                    found = importlib.import_module(".".join(parts[:cut]))
                    break
                except ModuleNotFoundError:
                    continue
            try:
                for attribute in parts[cut:]:
                    found = getattr(found, attribute)
            except AttributeError:
                missing.append(f"{where}: {span}")
    assert not missing, "\n".join(missing)


def test_no_names_of_the_former_layout():
    found = [f"{page.relative_to(REPO)}:{number}: {stale}" for page in PAGES
             for number, line in enumerate(page.read_text(encoding="utf-8").splitlines(), start=1)
             for stale in STALE if stale in line]
    found += [f"{page.relative_to(REPO)}:{number}" for page in PAGES if page.name != "commands.md"
              for number, line in enumerate(page.read_text(encoding="utf-8").splitlines(), start=1)
              if re.search(r"python3? scripts/", line)]
    assert not found, "\n".join(found)


# ------------------------------------------------------------------------------------------------ README shape
def test_readme_is_short_and_links_every_page():
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    assert len(readme.splitlines()) <= 200
    index = (REPO / "docs" / "README.md").read_text(encoding="utf-8")
    for page in PAGES[1:]:
        assert f"(docs/{page.name})" in readme, f"README.md does not link docs/{page.name}"
        if page.name != "README.md":
            assert f"]({page.name})" in index, f"docs/README.md does not link {page.name}"
    first_screen = readme.split("## Score a session\n", 1)[0]
    assert '.venv/bin/pip install "torch==2.13.0" -e ".[dev]" && .venv/bin/sla demo' in first_screen
    assert "bash .ci/run" in first_screen
    assert not re.search(r"\d+ min\b|\d+ s\b", first_screen), "no machine-specific timings on the first screen"


def test_readme_train_and_score_block_is_the_one_the_wheel_test_runs():
    section = (REPO / "README.md").read_text(encoding="utf-8").split("## Train and score\n", 1)[1].split("\n## ")[0]
    (block,) = [block for block in blocks(REPO / "README.md") if block.code.strip() in section]
    assert block.info == "bash" and section.count("```bash") == 1
    lines = [line for line in block.code.splitlines() if line.strip()]
    assert [line.split("  #")[0].rstrip() for line in lines] == TRAIN_AND_SCORE
    assert all("#" not in line for line in lines[1:]), "a comment only on the make-corpus line"


# ------------------------------------------------------------------------------------------------ no-run blocks
PACKAGES = ("sla_phi4", "modeling_sla", "processing_sla")


def package_calls(code: str) -> list[tuple[str, object, ast.Call]]:
    """The calls of a block to names it imports from the package: (dotted name, the object, the call)."""
    tree = ast.parse(code)
    imported = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] in PACKAGES:
            module = importlib.import_module(node.module)
            imported.update({alias.asname or alias.name: getattr(module, alias.name) for alias in node.names})
    calls = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        chain, target = [], node.func
        while isinstance(target, ast.Attribute):
            chain.insert(0, target.attr)
            target = target.value
        if isinstance(target, ast.Name) and target.id in imported:
            found = imported[target.id]
            for attribute in chain:
                found = getattr(found, attribute)
            calls.append((".".join([target.id, *chain]), found, node))
    return calls


@pytest.mark.parametrize("block", MARKED, ids=lambda block: block.name)
def test_no_run_block_calls_the_package_as_its_signatures_allow(block):
    import inspect

    for name, function, call in package_calls(block.code):
        if any(isinstance(argument, ast.Starred) for argument in call.args) or any(
                keyword.arg is None for keyword in call.keywords):
            continue
        signature = inspect.signature(function)
        try:
            signature.bind(*range(len(call.args)), **{keyword.arg: None for keyword in call.keywords})
        except TypeError as error:
            pytest.fail(f"{block.name}: {name}{signature} does not take that call: {error}")


def test_the_backbones_block_runs_on_local_stand_ins(tiny_checkpoint):
    """docs/backbones.md's block with the Hub replaced by the tiny checkpoint's local Phi-4 and Whisper stand-ins."""
    (block,) = [block for block in MARKED if block.page.name == "backbones.md"]
    parts = tiny_checkpoint / "parts"
    code = re.sub(r"for repo, revision in \[.*?\]:", f"for repo, revision in [({str(parts / 'phi4-multimodal')!r}, "
                  "None)]:", block.code, flags=re.S)
    code = code.replace('"openai/whisper-large-v3"', repr(str(parts / "whisper"))).replace('"cuda"', '"cpu"')
    assert code != block.code and "phi4-multimodal" in code
    namespace = {"__name__": "__main__"}
    exec(compile(code, block.name, "exec"), namespace)
    processor, model = namespace["processor"], namespace["model"]
    assert processor.test_format["name"] == "sandi2025"  # S&I's format by default
    from sla_phi4.testing import make_session

    session = make_session("docs", [("P1", 1.0), ("P3", 1.5), ("P4", 1.5), ("P5", 1.0)])
    assert model(**processor(session)).scores.shape == (1, 5)


def test_commands_page_lists_every_flag_of_every_command():
    from sla_phi4.cli import COMMANDS

    lines = {line.split("`")[1]: line for line in (REPO / "docs" / "commands.md").read_text().splitlines()
             if line.startswith("- `sla ")}
    for name, (module_name, _) in COMMANDS.items():
        module = importlib.import_module(f"sla_phi4.cli.{module_name}")
        parser = module.build_parser()
        line = lines.get(f"sla {name}")
        assert line, f"docs/commands.md lists no flags of sla {name}"
        for action in parser._actions:
            if action.help == argparse.SUPPRESS or isinstance(action, argparse._HelpAction):
                continue
            longs = [option for option in action.option_strings if option.startswith("--")]
            shown = "--" + longs[0][2:].replace("_", "-") if longs else action.metavar
            assert f"`{shown}`" in line, f"docs/commands.md: sla {name} lacks {shown}"
