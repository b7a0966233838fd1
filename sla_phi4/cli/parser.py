"""The parser every `sla` subcommand uses, so that all of them behave alike (as `accelerate` and `huggingface-cli`
do): each flag is accepted as `--a_b` and `--a-b` and shown dashed, every flag shows its default, and a command's
examples keep their line breaks.

A subcommand module builds its parser with `SLAArgumentParser(description=..., examples=...)` in a `build_parser()`
and imports nothing heavy at module level, so that `sla X --help` answers at once. `add_dataclass_flags` turns the
fields of a plain settings dataclass into flags of a parser or of one of its groups.
"""

from __future__ import annotations

import argparse
import dataclasses
import types
import typing


def spellings(names: tuple[str, ...]) -> list[str]:
    """The option strings of a flag: each long name in its dashed form first, then its underscored twin."""
    result = []
    for name in names:
        body = name[2:]
        if not name.startswith("--") or body.startswith("_") or ("_" not in body and "-" not in body):
            result.append(name)
            continue
        dashed, underscored = "--" + body.replace("_", "-"), "--" + body.replace("-", "_")
        result.extend(spelling for spelling in (dashed, underscored) if spelling not in result)
    return result


def _destination(names: tuple[str, ...], keywords: dict) -> dict:
    """Keeps `dest` the underscored name whichever spelling came first, so `args.corpus_root` always exists."""
    long_names = [name for name in names if name.startswith("--")]
    if "dest" in keywords or not long_names:
        return keywords
    return {**keywords, "dest": long_names[0][2:].replace("-", "_")}


class _BothSpellings:
    """`add_argument` that registers `--a-b` and `--a_b` for every long flag."""

    def add_argument(self, *names, **keywords):
        if not names or not names[0].startswith("-"):
            return super().add_argument(*names, **keywords)
        return super().add_argument(*spellings(names), **_destination(names, keywords))


class SLAArgumentGroup(_BothSpellings, argparse._ArgumentGroup):
    """A titled group of flags (`parser.add_argument_group(title, description)`)."""


class SLAHelpFormatter(argparse.RawDescriptionHelpFormatter):
    """Keeps the description's and examples' line breaks, shows each flag once (dashed) and its default."""

    def __init__(self, prog, indent_increment=2, max_help_position=32, width=None):
        super().__init__(prog, indent_increment, max_help_position, width)

    def _format_action_invocation(self, action):
        if not action.option_strings:
            return super()._format_action_invocation(action)
        shown = [name for name in action.option_strings if not (name.startswith("--") and "_" in name)]
        shown = shown or action.option_strings[:1]
        if action.nargs == 0:
            return ", ".join(shown)
        return ", ".join(shown) + " " + self._format_args(action, self._get_default_metavar_for_optional(action))

    def _get_help_string(self, action):
        text = action.help or ""
        if "%(default)" in text or "default" in text.lower() or action.default in (None, argparse.SUPPRESS):
            return text + (" (required)" if action.required else "")
        if action.nargs == 0 and action.default is False:  # a switch: off unless given
            return text
        default = " ".join(map(str, action.default)) if isinstance(action.default, (list, tuple)) else action.default
        return f"{text} (default: {str(default).replace('%', '%%')})"


class SLAArgumentParser(_BothSpellings, argparse.ArgumentParser):
    """`argparse.ArgumentParser` with both flag spellings, defaults shown, and `examples` as the epilog."""

    def __init__(self, description: str = "", examples: str = "", **keywords):
        keywords.setdefault("formatter_class", SLAHelpFormatter)
        keywords.setdefault("allow_abbrev", False)  # `--corpus` would match both spellings of --corpus_root
        epilog = "examples:\n" + examples.strip("\n") if examples else keywords.pop("epilog", None)
        super().__init__(description=description.strip(), epilog=epilog, **keywords)

    def add_argument_group(self, *args, **keywords) -> SLAArgumentGroup:
        group = SLAArgumentGroup(self, *args, **keywords)
        self._action_groups.append(group)
        return group


# --------------------------------------------------------------------------------------------- settings dataclasses
def _plain_type(annotation):
    """`int | None` -> (int, False); `list[str]` -> (str, True); `str` -> (str, False)."""
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        options = [arg for arg in typing.get_args(annotation) if arg is not type(None)]
        return _plain_type(options[0])
    if origin in (list, tuple):
        return typing.get_args(annotation)[0], True
    return annotation, False


def parse_bool(text: str) -> bool:
    """`true/false`, `yes/no`, `1/0` (as `HfArgumentParser` reads booleans)."""
    lowered = text.lower()
    if lowered in ("true", "yes", "1", "t", "y"):
        return True
    if lowered in ("false", "no", "0", "f", "n"):
        return False
    raise argparse.ArgumentTypeError(f"expected true or false, got {text!r}")


def _field_default(item: dataclasses.Field):
    if item.default is not dataclasses.MISSING:
        return item.default, False
    if item.default_factory is not dataclasses.MISSING:
        return item.default_factory(), False
    return None, True


def add_dataclass_flags(container, settings_class, names: typing.Iterable[str] | None = None) -> None:
    """Adds a flag for each field of a dataclass (or only `names`): its help from `metadata["help"]`, its
    choices from `metadata["choices"]`; booleans take `--flag` or `--flag true/false`."""
    hints = typing.get_type_hints(settings_class)
    wanted = None if names is None else set(names)
    for item in dataclasses.fields(settings_class):
        if not item.init or (wanted is not None and item.name not in wanted):
            continue
        value_type, many = _plain_type(hints[item.name])
        default, required = _field_default(item)
        keywords = {"default": default, "required": required, "help": item.metadata.get("help", "")}
        if "choices" in item.metadata:
            keywords["choices"] = item.metadata["choices"]
        if value_type is bool:
            keywords.update(type=parse_bool, nargs="?", const=True, metavar="{true,false}")
        else:
            keywords["type"] = value_type
            if many:
                keywords["nargs"] = "+"
        container.add_argument(f"--{item.name}", **keywords)


__all__ = ["SLAArgumentGroup", "SLAArgumentParser", "SLAHelpFormatter", "add_dataclass_flags", "parse_bool",
           "spellings"]
