"""``alpaca-tui completion bash|zsh|fish``: shell completion, profile names included.

Install (each prints a script that calls back into ``alpaca-tui``)::

    # bash (~/.bashrc)
    eval "$(alpaca-tui completion bash)"
    # zsh (~/.zshrc, after compinit), or save it as _alpaca-tui in a directory on $fpath
    eval "$(alpaca-tui completion zsh)"
    # fish
    alpaca-tui completion fish > ~/.config/fish/completions/alpaca-tui.fish

How it works (like kubectl's and gh's ``__complete``): on TAB the script runs
``alpaca-tui completion --complete`` with the words typed so far on stdin, one a line, the
last one being the word under the cursor (stdin, so that no word is ever taken for one of
our own options). That walks the same argparse tree the commands use, so
a new command or option completes without touching this file. It prints one candidate a
line (``--describe``: ``candidate<TAB>description`` for zsh and fish), or the single line
``:files`` when a file name is expected. Profile names (positional ``NAME`` arguments, except
``profiles add``'s new one) come from the index file alone, read and never written: no secret
backend is opened, nothing is prompted for, a missing or damaged index gives no names.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from alpaca_tui.core.credentials import Flow
from alpaca_tui.core.environments import Env
from alpaca_tui.core.errors import UsageError
from alpaca_tui.core.scopes import ACCESS_PRESETS

SHELLS = ("bash", "zsh", "fish")
FILES = ":files"  # the answer meaning "complete a file name here"
# option string -> the values offered after it (the shell also accepts anything else typed)
OPTION_VALUES: dict[str, tuple[str, ...]] = {
    "--env": tuple(e.value for e in Env),
    "--flow": tuple(f.value for f in Flow),
    "--api": ("trading", "data", "broker"),
    "--access": ACCESS_PRESETS,
    "--alg": ("ES256", "RS256"),
    "--expires": ("never", "1w", "30d", "90d", "6m", "1y"),
    "--keep-old-for": ("1h", "24h", "7d"),
    "--for": ("15m", "1h", "8h", "24h"),
}
# positional metavar -> its values
POSITIONAL_VALUES: dict[str, tuple[str, ...]] = {"METHOD": ("GET", "POST", "PUT", "PATCH", "DELETE")}
FILE_METAVARS = {"PEM", "FILE", "DIR", "PATH_TO_FILE"}
NEW_NAME = {("profiles", "add")}  # a NAME that does not exist yet: nothing to offer


def register(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "completion", help="print a shell completion script (bash, zsh, fish)",
        description="Print the completion script for SHELL. Install: "
                    'bash: eval "$(alpaca-tui completion bash)" in ~/.bashrc; '
                    'zsh: eval "$(alpaca-tui completion zsh)" in ~/.zshrc (after compinit); '
                    "fish: alpaca-tui completion fish > ~/.config/fish/completions/alpaca-tui.fish. "
                    "Profile names are read from the index only (never a secret, never a prompt).")
    p.add_argument("shell", nargs="?", choices=SHELLS, help="bash | zsh | fish")
    p.add_argument("--describe", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--complete", action="store_true", help=argparse.SUPPRESS)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if args.complete:
        typed = sys.stdin.read()
        words = (typed[:-1] if typed.endswith("\n") else typed).split("\n")
        from alpaca_tui.cli.main import build_parser

        for line in complete(build_parser(), words, describe=args.describe):
            print(line)
        return 0
    if args.shell is None:
        raise UsageError("name a shell: alpaca-tui completion bash|zsh|fish")
    sys.stdout.write(script(args.shell))
    return 0


# -- candidates ---------------------------------------------------------------------------
def profile_names() -> list[tuple[str, str]]:
    """(name, "env · flow") for each profile in this home's index; [] on any problem."""
    from alpaca_tui.core.credentials import validate_name
    from alpaca_tui.core.errors import AlpacaTuiError
    from alpaca_tui.core.store.registry import HOME_ENV
    from alpaca_tui.core.store.safefile import INDEX_MAX, read_file

    home = Path(os.environ.get(HOME_ENV) or _default_home()).expanduser()
    try:  # read only (safefile's rules: a regular file of ours, capped); never written
        doc = json.loads(read_file(home / "index.json", cap=INDEX_MAX, label="index.json") or b"{}")
        entries = doc["profiles"]
        if not isinstance(entries, dict):
            return []
    except (AlpacaTuiError, OSError, ValueError, KeyError, TypeError):
        return []
    out = []
    for name, data in sorted(entries.items()):
        try:
            validate_name(name)
        except (UsageError, TypeError):
            continue  # a hand-edited index: never echo something that is not a name
        info = data if isinstance(data, dict) else {}
        env, flow = str(info.get("env", "")), str(info.get("flow", ""))
        out.append((name, " · ".join(x for x in (env, flow) if x.replace("-", "").isalnum())))
    return out


def _default_home() -> Path:
    from platformdirs import user_data_dir

    return Path(user_data_dir("alpaca-tui", appauthor=False))


def _subcommands(parser: argparse.ArgumentParser) -> dict[str, tuple[argparse.ArgumentParser, str]]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            helps = {a.dest: a.help or "" for a in action._choices_actions}
            return {name: (sub, helps.get(name, "")) for name, sub in action.choices.items()
                    if helps.get(name) != argparse.SUPPRESS}
    return {}


def _options(parser: argparse.ArgumentParser) -> dict[str, argparse.Action]:
    return {s: a for a in parser._actions for s in a.option_strings}


def _positionals(parser: argparse.ArgumentParser) -> list[argparse.Action]:
    return [a for a in parser._actions
            if not a.option_strings and not isinstance(a, argparse._SubParsersAction)]


class _Walk:
    """Where the words typed so far leave the parser: which (sub)command, which positional."""

    def __init__(self, root: argparse.ArgumentParser) -> None:
        self.parser = root
        self.path: list[str] = []
        self.positional = 0
        self.pending: argparse.Action | None = None  # an option waiting for its value
        self.free = False  # after "--" (exec's command): not ours to complete
        self.given: set[str] = set()  # positional words of this (sub)command so far

    def feed(self, word: str) -> None:
        if self.free:
            return
        if self.pending is not None:
            self.pending = None
            return
        if word == "--":
            self.free = True
        elif word.startswith("-") and word != "-":
            action = _options(self.parser).get(word.split("=", 1)[0])
            if action is not None and action.nargs != 0 and "=" not in word:
                self.pending = action
        elif self.positional == 0 and word in _subcommands(self.parser):
            self.parser = _subcommands(self.parser)[word][0]
            self.path.append(word)
        else:
            self.given.add(word)
            pos = _positionals(self.parser)
            if not (self.positional < len(pos) and pos[self.positional].nargs in ("*", "+")):
                self.positional += 1


def _values(action: argparse.Action, option: str) -> list[tuple[str, str]] | None:
    """Values for an option's argument; None means a file name."""
    if action.choices:
        return [(str(c), "") for c in action.choices]
    if option in OPTION_VALUES:
        return [(v, "") for v in OPTION_VALUES[option]]
    if str(action.metavar or "") in FILE_METAVARS or action.dest.endswith(("_file", "state")):
        return None
    return []


def _candidates(walk: _Walk, current: str) -> list[tuple[str, str]] | None:
    if walk.free:
        return None
    if walk.pending is not None:
        return _values(walk.pending, max(walk.pending.option_strings, key=len))
    if current.startswith("-"):
        return [(s, a.help or "") for s, a in _options(walk.parser).items()
                if s.startswith("--") and a.help != argparse.SUPPRESS]
    subs = _subcommands(walk.parser)
    if subs and walk.positional == 0:
        return [(name, help_) for name, (_, help_) in subs.items()]
    pos = _positionals(walk.parser)
    if walk.positional >= len(pos):
        return []
    action = pos[walk.positional]
    if action.nargs == argparse.REMAINDER:
        return None
    if action.choices:
        return [(str(c), "") for c in action.choices]
    if action.metavar == "NAME" and tuple(walk.path) not in NEW_NAME:
        return [(n, d) for n, d in profile_names() if n not in walk.given]  # check a b: not a again
    return [(v, "") for v in POSITIONAL_VALUES.get(str(action.metavar), ())]


def complete(parser: argparse.ArgumentParser, words: Sequence[str], *,
             describe: bool = False) -> Iterator[str]:
    """The completion lines for ``words`` (``words[0]`` is the program, the last one the word being
    completed, possibly empty)."""
    typed = list(words[1:]) or [""]
    walk = _Walk(parser)
    for word in typed[:-1]:
        walk.feed(word)
    current = typed[-1]
    found = _candidates(walk, current)
    if found is None:
        yield FILES
        return
    seen = set()
    for value, description in found:
        if value.startswith(current) and value not in seen:
            seen.add(value)
            text = " ".join(description.split())
            yield f"{value}\t{text}" if describe and text else value


# -- scripts ------------------------------------------------------------------------------
def script(shell: str) -> str:
    from alpaca_tui.cli import completion_scripts

    return completion_scripts.SCRIPTS[shell]
