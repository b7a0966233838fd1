"""The demo Space's files: the app (`sla_phi4.space`, copied as the package `sla_space`), its entry `app.py`,
`requirements.txt`, `space.json` (the model it serves) and a README with the Space's YAML front matter
(`sdk: gradio`), pointing at the model repo.

The Space has no sla-phi4 installed: `sla_space` imports only installed libraries, and the model's own code comes
with the model through `trust_remote_code`.
"""

import json
import os
from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from string import Template

from modeling_sla import load_test_format
from sla_phi4.resources import package_file


TEMPLATE_DIR = package_file("sla_phi4.hub_card", "demo_space")
APP_SOURCE = package_file("sla_phi4.space")
APP_PACKAGE = "sla_space"
APP_SUFFIXES = (".py", ".json")


@dataclass(frozen=True)
class SpaceSettings:
    """What a demo Space serves and how it is named.

    Args:
        space_id: the Space, `ORG/NAME`.
        model: the model it loads: a Hub repo (`ORG/NAME`), or a folder where the app runs locally.
        test_format: the model's test format (a built-in name, a JSON file, a folder with test_format.json, a dict).
        notice: a sentence shown under the app's title, if any.
    """

    space_id: str
    model: str
    test_format: object = "sandi2025"
    notice: str | None = None


def gradio_version() -> str:
    """The gradio this package was installed with: the Space's `sdk_version`."""
    try:
        return version("gradio")
    except PackageNotFoundError as error:
        raise ModuleNotFoundError("the demo Space needs gradio: pip install 'sla-phi4[space]'",
                                  name="gradio") from error


def parts_markdown(test_format) -> str:
    lines = []
    for part in test_format.parts:
        answers = "one answer" if part.max_responses == 1 else f"{part.min_responses} to {part.max_responses} answers"
        lines.append(f"- **{part.id}**, {part.title}: {answers}")
    return "\n".join(lines)


def readme(settings: SpaceSettings) -> str:
    """The Space's README: YAML front matter (`sdk: gradio`, the model) and what the app and its API do."""
    test_format = load_test_format(settings.test_format)
    template = Template((TEMPLATE_DIR / "README.md").read_text(encoding="utf-8"))
    return template.substitute(
        title=f"{settings.space_id.split('/')[-1]}", gradio_version=gradio_version(), model=settings.model,
        space=settings.space_id, test=test_format.title, format=test_format.name, low=f"{test_format.scale.min:g}",
        high=f"{test_format.scale.max:g}", level_name=test_format.level_name, parts=parts_markdown(test_format),
        first_part=test_format.parts[0].id,
    )


def app_package_files() -> dict[str, bytes]:
    """The app's modules and data, under `sla_space/`."""
    return {f"{APP_PACKAGE}/{path.name}": path.read_bytes() for path in sorted(APP_SOURCE.iterdir())
            if path.is_file() and path.suffix in APP_SUFFIXES}


def space_files(settings: SpaceSettings) -> dict[str, bytes]:
    """Every file of the Space, by its path in the repo, sorted."""
    config = {"model": settings.model, "notice": settings.notice}
    files = {
        "README.md": readme(settings).encode(),
        "app.py": (TEMPLATE_DIR / "app.py").read_bytes(),
        "requirements.txt": (TEMPLATE_DIR / "requirements.txt").read_bytes(),
        "space.json": (json.dumps(config, indent=2, allow_nan=False) + "\n").encode(),
        **app_package_files(),
    }
    return dict(sorted(files.items()))


def write_space(folder: str | os.PathLike, settings: SpaceSettings) -> Path:
    """Writes the Space's files into `folder` (to look at, or to run with `python app.py`); returns the folder."""
    folder = Path(folder)
    for name, content in space_files(settings).items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_bytes(content)
    return folder
