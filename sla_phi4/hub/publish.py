#!/usr/bin/env python
"""Publishes an SLA checkpoint folder to the Hugging Face Hub, and optionally the metric module as a Space.

    # check first: the folder loads without this package, has a card; lists what would be uploaded (no network)
    sla push --checkpoint runs/sla --repo-id ORG/NAME --dry-run
    # upload (needs `hf auth login` or HF_TOKEN)
    sla push --checkpoint runs/sla --repo-id ORG/NAME [--private] [--metric-space ORG/sla_scoring]
        [--demo-space ORG/NAME-demo]

The model repo gets only what it needs, from the top of the folder (`hub_card/repo_files.json`): weights
(safetensors), configs, the code files the configs name and what they import, processor, tokenizer, chat template
and README.md card. `config.json` goes without local `_name_or_path` paths. Everything else (secrets, pickles,
audio, logs, training state, sub-folders, symbolic links out of the folder) is left out, and the listing says what
and why; nothing is read through a link that leaves the folder. `--metric-space` publishes
`hub_card/sla_scoring` as a Gradio Space, so that `evaluate.load("ORG/sla_scoring")` works (evaluate-cli cannot
create Spaces with huggingface_hub >= 1.0). `--demo-space` publishes the demo app (`sla_phi4.hub.demo_space`)
as a Gradio Space that serves the model repo. `--private` makes new repos private (an existing repo keeps its
visibility); without it the account's or organisation's default applies.
"""

import ast
import fnmatch
import json
import os
import re
import subprocess
import sys
import textwrap
from dataclasses import dataclass, field
from pathlib import Path

from huggingface_hub import CommitOperationAdd, HfApi, ModelCard
from huggingface_hub.utils import filter_repo_objects

from sla_phi4.hub.demo_space import SpaceSettings, space_files
from sla_phi4.hub.model_card import PLACEHOLDER_REPO_ID, is_hub_id
from sla_phi4.resources import package_file


METRIC_DIR = package_file("sla_phi4.hub_card", "sla_scoring")
METRIC_NAME = "sla_scoring"
REPO_FILES = package_file("sla_phi4.hub_card", "repo_files.json")  # what a model repo gets, and why the rest is left out
SECRET_REASON = "looks like a secret or credential"
LOCAL_PATH_KEYS = ("_name_or_path", "name_or_path")
HUB_ID = re.compile(r"^[\w.-]+(/[\w.-]+)?$")
SPACE_IGNORE_PATTERNS = ("*__pycache__*", "*.pyc", ".cache/")
# The same defaults `HfApi.upload_folder` adds (.git and .cache/huggingface folders).
try:
    from huggingface_hub.utils._paths import DEFAULT_IGNORE_PATTERNS
except ImportError:  # pragma: no cover - private location in some versions
    DEFAULT_IGNORE_PATTERNS = [".git", ".git/*", "*/.git", "**/.git/**", ".cache/huggingface", ".cache/huggingface/*",
                               "*/.cache/huggingface", "**/.cache/huggingface/**"]

LOAD_CHECK = textwrap.dedent(
    """
    import json, sys
    sys.modules["modeling_sla"] = None      # load as a user would: from the folder's own code only
    sys.modules["processing_sla"] = None
    from transformers import AutoModel, AutoProcessor
    from transformers.dynamic_module_utils import get_class_from_dynamic_module
    from transformers.processing_utils import ProcessorMixin
    folder = sys.argv[1]
    model = AutoModel.from_pretrained(folder, trust_remote_code=True)
    processor = AutoProcessor.from_pretrained(folder, trust_remote_code=True)
    if not isinstance(processor, ProcessorMixin):
        sys.exit(f"AutoProcessor returned a {type(processor).__name__}, not the SLA processor: "
                 "processor_config.json lacks its auto_map.")
    pipelines = {}
    for task, info in (getattr(model.config, "custom_pipelines", None) or {}).items():
        pipelines[task] = get_class_from_dynamic_module(info["impl"], folder).__name__
    print(json.dumps({"model": type(model).__name__, "processor": type(processor).__name__,
                      "pipelines": pipelines, "parameters": model.num_parameters()}, allow_nan=False))
    """
)


class PublishError(RuntimeError):
    """A checkpoint folder that should not be published as it is."""

    usage_error = True  # the user's to fix: `sla` reports it in one line


# ------------------------------------------------------------------------------------------- what is uploaded
@dataclass
class UploadPlan:
    """What the model repo gets from a checkpoint folder.

    Args:
        files: `(name, size in bytes)` of each file uploaded, sorted.
        left_out: `(name, reason)` of each entry left out (a sub-folder as `name/ (N files)`), sorted.
        contents: the bytes uploaded in place of a file's own (a config without local paths).
        rewritten: per rewritten file, the keys removed from it.
    """

    files: list[tuple[str, int]] = field(default_factory=list)
    left_out: list[tuple[str, str]] = field(default_factory=list)
    contents: dict[str, bytes] = field(default_factory=dict)
    rewritten: dict[str, list[str]] = field(default_factory=dict)


def repo_file_rules() -> dict:
    with open(REPO_FILES, encoding="utf-8") as handle:
        return json.load(handle)


def matching_reason(name: str, patterns_by_reason: dict) -> str | None:
    return next((reason for reason, patterns in patterns_by_reason.items()
                 if any(fnmatch.fnmatch(name, pattern) for pattern in patterns)), None)


def imported_code(folder: Path, names: set[str]) -> set[str]:
    """`names` and every file of the folder they import relatively (`from .x import y`), transitively."""
    found, pending = set(), list(names)
    while pending:
        name = pending.pop()
        if name in found or not (folder / name).is_file():
            continue
        found.add(name)
        tree = ast.parse((folder / name).read_text(encoding="utf-8"))
        pending += [f"{node.module}.py" for node in ast.walk(tree)
                    if isinstance(node, ast.ImportFrom) and node.level == 1 and node.module]
    return found


def without_local_paths(value, where: str = "") -> tuple[object, list[str]]:
    """`value` (parsed JSON) without the `_name_or_path` entries that hold local paths (a Hub ID is kept); returns it
    with the dotted keys removed."""
    removed = []
    if isinstance(value, dict):
        kept = {}
        for key, item in value.items():
            dotted = f"{where}.{key}" if where else key
            local = isinstance(item, str) and item and (os.path.exists(item) or not HUB_ID.match(item))
            if key in LOCAL_PATH_KEYS and local:
                removed.append(dotted)
                continue
            kept[key], inner = without_local_paths(item, dotted)
            removed += inner
        return kept, sorted(removed)
    if isinstance(value, list):
        items = [without_local_paths(item, f"{where}[{index}]") for index, item in enumerate(value)]
        return [item for item, _ in items], sorted(key for _, keys in items for key in keys)
    return value, removed


def link_reason(path: Path, folder: Path) -> str | None:
    """Why a symbolic link is left out (it leaves the folder, or is broken); None for a link to a file inside."""
    target = path.resolve()
    if not target.is_relative_to(folder.resolve()):
        return f"a symbolic link out of the folder (to {os.readlink(path)}), never followed"
    return None if target.is_file() else f"a symbolic link to {os.readlink(path)}, not a file"


def entry_reason(path: Path, folder: Path, code: set[str], rules: dict) -> str | None:
    """Why a top-level entry is left out, or None when the model repo needs it."""
    name = path.name
    if path.is_symlink() and link_reason(path, folder):
        return link_reason(path, folder)
    if path.is_dir():
        return matching_reason(name, rules["left_out_folders"]) or "a sub-folder (a model repo's files are at the top)"
    secret = SECRET_REASON if matching_reason(name, {SECRET_REASON: rules["left_out"][SECRET_REASON]}) else None
    if secret or name in code or matching_reason(name, rules["uploaded"]):
        return secret
    if name.endswith(".py"):
        return "code the configs do not name"
    return matching_reason(name, rules["left_out"]) or "not part of a model repo"


def plan_upload(folder: str | os.PathLike) -> UploadPlan:
    """What `push` uploads from a checkpoint folder, what it leaves out and why (no network, nothing followed out
    of the folder)."""
    folder, rules, plan = Path(folder), repo_file_rules(), UploadPlan()
    config_path = folder / "config.json"
    config = json.loads(config_path.read_text(encoding="utf-8")) if config_path.is_file() else {}
    code = imported_code(folder, code_files(folder, config))
    for path in sorted(folder.iterdir()):
        reason = entry_reason(path, folder, code, rules)
        if reason is None:
            plan.files.append((path.name, path.stat().st_size))
        elif path.is_dir() and not path.is_symlink():
            files = sum(1 for item in path.rglob("*") if item.is_file())
            plan.left_out.append((f"{path.name}/ ({files} files)", reason))
        else:
            plan.left_out.append((path.name, reason))
    for name, _ in plan.files:
        if name.endswith(".json"):
            cleaned, removed = without_local_paths(json.loads((folder / name).read_text(encoding="utf-8")))
            if removed:
                plan.contents[name] = (json.dumps(cleaned, indent=2, sort_keys=True, allow_nan=False) + "\n").encode()
                plan.rewritten[name] = removed
    plan.files = [(name, len(plan.contents[name]) if name in plan.contents else size) for name, size in plan.files]
    return plan


def files_to_upload(folder: str | os.PathLike, ignore_patterns=SPACE_IGNORE_PATTERNS) -> list[tuple[str, int]]:
    """`(path relative to the folder, size in bytes)` of every file `upload_folder` would send from a folder of this
    repository (the metric Space), sorted."""
    folder = Path(folder)
    files = {path.relative_to(folder).as_posix(): path for path in sorted(folder.glob("**/*")) if path.is_file()}
    kept = filter_repo_objects(files, ignore_patterns=list(ignore_patterns) + list(DEFAULT_IGNORE_PATTERNS))
    return [(relpath, files[relpath].stat().st_size) for relpath in kept]


# ------------------------------------------------------------------------------------------------------ checks


def code_files(folder: Path, config: dict) -> set[str]:
    """The .py files that the auto_maps of config.json, processor_config.json and tokenizer_config.json, and the
    custom pipelines, name."""
    references = list((config.get("auto_map") or {}).values())
    references += [info.get("impl") for info in (config.get("custom_pipelines") or {}).values()]
    for name in ("processor_config.json", "tokenizer_config.json"):
        if (folder / name).is_file():
            references += list((json.loads((folder / name).read_text(encoding="utf-8")).get("auto_map") or {}).values())
    names = set()
    for reference in references:
        for entry in reference if isinstance(reference, (list, tuple)) else [reference]:
            if isinstance(entry, str) and "." in entry:
                names.add(entry.split("--")[-1].rsplit(".", 1)[0] + ".py")
    return names


def card_repo_ids(text: str) -> list[str]:
    """The repo ids the card's code loads (`repo_id = "..."`, `pipeline(..., model="...")`)."""
    return re.findall(r'(?:repo_id\s*=\s*|model=)"([^"]+)"', text)


def check_card_repo_ids(text: str, card_path: Path, repo_id: str | None) -> None:
    """Refuses a card whose code loads a local path, the placeholder, or another repo than the one pushed to."""
    for loaded in card_repo_ids(text):
        if loaded == PLACEHOLDER_REPO_ID or not is_hub_id(loaded) or (repo_id is not None and loaded != repo_id):
            raise PublishError(
                f"{card_path}: its code loads {loaded!r}, not the repo pushed to ({repo_id or 'ORG/NAME'}); rewrite "
                f"the card with `sla card --checkpoint {card_path.parent} --report ... --repo-id "
                f"{repo_id or 'ORG/NAME'}`.")


def check_folder(folder: str | os.PathLike, repo_id: str | None = None) -> list[str]:
    """Checks without loading anything: the files a checkpoint needs and a parsable model card whose code loads
    `repo_id` (a Hub id, never a local path or the placeholder). Returns notes; raises PublishError when something
    is missing."""
    folder = Path(folder)
    if not folder.is_dir():
        raise PublishError(f"{folder} is not a folder.")
    if not (folder / "config.json").is_file():
        raise PublishError(
            f"{folder} has no config.json: it is not a saved checkpoint (save one with `model.save_pretrained` or "
            f"`save_pretrained_with_pipeline`)."
        )
    config = json.loads((folder / "config.json").read_text(encoding="utf-8"))
    if not any(folder.glob("*.safetensors")) and not any(folder.glob("*.bin")):
        raise PublishError(f"{folder} has no model weights (model.safetensors).")
    if not (folder / "processor_config.json").is_file():
        raise PublishError(f"{folder} has no processor_config.json: save the processor into the folder too.")
    missing_code = sorted(name for name in code_files(folder, config) if not (folder / name).is_file())
    if missing_code:
        raise PublishError(f"{folder} misses code files that its configs name: {', '.join(missing_code)}.")
    card_path = folder / "README.md"
    if not card_path.is_file():
        raise PublishError(
            f"{folder} has no README.md model card: write one with `sla card --checkpoint "
            f"{folder} --report <eval_report.json> --repo-id ORG/NAME`."
        )
    try:
        card = ModelCard.load(card_path)
    except Exception as error:  # malformed YAML or model-index
        raise PublishError(f"{card_path} has invalid metadata: {error}") from error
    check_card_repo_ids(card.text, card_path, repo_id)
    notes = []
    if not card.data.get("license"):
        notes.append("the card's metadata has no license")
    if not card.data.get("eval_results"):
        notes.append("the card has no model-index (no evaluation results)")
    if not config.get("custom_pipelines"):
        notes.append("config.json has no custom_pipelines: pipeline('spoken-language-assessment', ...) will not work")
    return notes


def check_loads(folder: str | os.PathLike, timeout: int = 900) -> dict:
    """Loads the folder with AutoModel/AutoProcessor (trust_remote_code=True) in a fresh interpreter where this
    package cannot be imported, offline; returns what loaded. Raises PublishError on failure."""
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    result = subprocess.run(
        [sys.executable, "-I", "-c", LOAD_CHECK, str(Path(folder).resolve())],
        cwd=Path(folder).resolve().parent, capture_output=True, text=True, timeout=timeout, env=env,
    )
    if result.returncode != 0:
        raise PublishError(
            f"{folder} does not load with trust_remote_code=True where the package is not installed:\n"
            f"{result.stderr.strip()[-3000:]}"
        )
    return json.loads(result.stdout.strip().splitlines()[-1])


def human_size(size: float) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if size < 1024 or unit == "GB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{size:.1f} GB"


def format_listing(files: list[tuple[str, int]]) -> str:
    width = max((len(path) for path, _ in files), default=10)
    lines = [f"  {path:<{width}}  {human_size(size):>10}" for path, size in files]
    lines.append(f"  {'total (' + str(len(files)) + ' files)':<{width}}  {human_size(sum(s for _, s in files)):>10}")
    return "\n".join(lines)


def report_plan(plan: UploadPlan) -> None:
    """Prints what is left out and why, and what is rewritten; warns about files that look like secrets."""
    if plan.left_out:
        width = max(len(name) for name, _ in plan.left_out)
        print(f"Left out ({len(plan.left_out)}):")
        print("\n".join(f"  {name:<{width}}  {reason}" for name, reason in plan.left_out))
    for name, keys in plan.rewritten.items():
        print(f"{name} is uploaded without local paths: {', '.join(keys)}.")
    secrets = [name for name, reason in plan.left_out if reason == SECRET_REASON]
    if secrets:
        print(f"warning: left out {len(secrets)} file(s) that look like secrets or credentials: {', '.join(secrets)}. "
              f"Remove them from the folder.")


# ---------------------------------------------------------------------------------------------------- publishing
def demo_space_settings(folder: str | os.PathLike, repo_id: str, demo_space: str) -> SpaceSettings:
    """The demo Space of the model repo `repo_id`, in the test format of the checkpoint `folder`."""
    return SpaceSettings(space_id=demo_space, model=repo_id, test_format=str(folder))


def dry_run(folder: str | os.PathLike, repo_id: str, metric_space: str | None = None,
            demo_space: str | None = None) -> list[tuple[str, int]]:
    """Every check, then the listing of what would be uploaded; no network. Returns the model repo's files."""
    if metric_space:
        check_metric_space(metric_space)
    notes = check_folder(folder, repo_id)
    loaded = check_loads(folder)
    plan = plan_upload(folder)
    print(f"{folder} loads without the package: {loaded['model']} ({loaded['parameters']:,} parameters), "
          f"{loaded['processor']}" + (f", pipelines {sorted(loaded['pipelines'])}" if loaded["pipelines"] else ""))
    for note in notes:
        print(f"note: {note}")
    print(f"Would upload to https://huggingface.co/{repo_id}:")
    print(format_listing(plan.files))
    report_plan(plan)
    if metric_space:
        print(f"Would upload {METRIC_DIR} to the Space https://huggingface.co/spaces/"
              f"{metric_space}:")
        print(format_listing(files_to_upload(METRIC_DIR, SPACE_IGNORE_PATTERNS)))
    if demo_space:
        files = space_files(demo_space_settings(folder, repo_id, demo_space))
        print(f"Would upload the demo app to the Space https://huggingface.co/spaces/{demo_space} (serving {repo_id}):")
        print(format_listing([(name, len(content)) for name, content in files.items()]))
    return plan.files


def check_metric_space(metric_space: str) -> None:
    if metric_space.split("/")[-1] != METRIC_NAME:
        raise PublishError(
            f"Name the metric Space .../{METRIC_NAME} (got {metric_space}): `evaluate.load('ORG/NAME')` looks for "
            f"NAME.py in the Space, and the module file is {METRIC_NAME}.py."
        )


def push(
    folder: str | os.PathLike,
    repo_id: str,
    *,
    private: bool = False,
    metric_space: str | None = None,
    demo_space: str | None = None,
    commit_message: str = "Upload SLA checkpoint",
    check_load: bool = False,
    api: HfApi | None = None,
) -> list[str]:
    """Creates the model repo (if needed) and uploads what `plan_upload` selects, in one commit; optionally the
    metric module and the demo app as Gradio Spaces. Returns the URLs of the commits."""
    for note in check_folder(folder, repo_id):
        print(f"note: {note}")
    plan = plan_upload(folder)
    report_plan(plan)
    if check_load:
        check_loads(folder)
    if metric_space:
        check_metric_space(metric_space)
    demo_operations = [CommitOperationAdd(path_in_repo=name, path_or_fileobj=content) for name, content in
                       space_files(demo_space_settings(folder, repo_id, demo_space)).items()] if demo_space else []
    api = api or HfApi()
    visibility = True if private else None  # None: the account's default (public unless the organisation says not)
    api.create_repo(repo_id, repo_type="model", private=visibility, exist_ok=True)
    operations = [CommitOperationAdd(path_in_repo=name, path_or_fileobj=plan.contents.get(name) or
                                     str(Path(folder, name).resolve())) for name, _ in plan.files]
    commits = [api.create_commit(repo_id=repo_id, repo_type="model", operations=operations,
                                 commit_message=commit_message)]
    if metric_space:
        api.create_repo(metric_space, repo_type="space", space_sdk="gradio", private=visibility, exist_ok=True)
        commits.append(api.upload_folder(
            repo_id=metric_space, folder_path=str(METRIC_DIR), repo_type="space",
            ignore_patterns=list(SPACE_IGNORE_PATTERNS), commit_message="Upload the SLA scoring metric",
        ))
    if demo_space:
        api.create_repo(demo_space, repo_type="space", space_sdk="gradio", private=visibility, exist_ok=True)
        commits.append(api.create_commit(repo_id=demo_space, repo_type="space", operations=demo_operations,
                                         commit_message=f"Upload the SLA demo app for {repo_id}"))
    urls = [str(getattr(commit, "commit_url", commit)) for commit in commits]
    for url in urls:
        print(f"Uploaded: {url}")
    return urls
