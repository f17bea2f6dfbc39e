"""A user's mistake on the command line is one line naming the flag and what is wrong, given before
any work starts: never a traceback, never a run that silently does nothing."""

from __future__ import annotations

import importlib
import re

import pytest

BAD = "/proc/hgd-no-such-dir/out"  # a folder that can never be created


CASES = [
    ("loop", ["--out", "{tmp}/x", "--set", "demos=abc"], "demos: expected a whole number"),
    ("loop", ["--out", BAD], f"--out {BAD}: cannot create"),
    ("loop", ["--out", "{tmp}/neg", "--set", "rounds=-2"], "rounds: must be at least 0"),
    ("loop", ["--out", "{tmp}/x", "--config", "/nonexistent.json"], "argument --config: no such file"),
    ("loop", ["--out", "{tmp}/x", "--set", "observations=depth"], "observations: 'depth' is not one of ['pixels', 'state']"),
    ("loop", ["--out", "{tmp}/x", "--robot", "so101_twin", "--set", "observations=pixels"],
     "the twin renders its cameras only in a live session"),
    ("train", ["--data", "{tmp}", "--observations", "depth"], "argument --observations: invalid choice: 'depth'"),
    ("train", ["--data", "{tmp}", "--out", BAD], f"--out {BAD}: cannot create"),
    ("train", ["--config", "/nonexistent.json", "--data", "{tmp}"], "argument --config: no such file"),
    ("train", ["--data", "{tmp}", "--horizon", "0"], "argument --horizon: must be >= 1"),
    ("train", ["--data", "{tmp}", "--set", "lr=abc", "--out", "{tmp}/t"], "lr: expected a number"),
    ("train", ["--data", "{tmp}", "--steps", "-5"], "argument --steps: must be >= 1"),
    ("expert_video", ["--task", "reach", "--out", BAD], f"--out {BAD}: cannot create"),
    ("serve", ["--control-hz", "0", "--policy", "toy"], "argument --control-hz: must be > 0"),
    ("serve", ["--max-batch", "0", "--policy", "toy"], "argument --max-batch: must be >= 1"),
    ("serve", ["--chunk-length", "0", "--policy", "toy"], "argument --chunk-length: must be >= 1"),
    ("serve", ["--endpoint", "garbage"], "argument --endpoint: expected tcp://HOST:PORT"),
    ("run_robot", ["--task", "reach", "--server", "garbage"], "argument --server: expected tcp://HOST:PORT"),
    ("run_robot", ["--task", "reach", "--report", BAD + "/r.json"], f"--report {BAD}/r.json: cannot create"),
    ("run_robot", ["--task", "reach", "--curve-server", "/nonexistent.key"], "argument --curve-server: no such file"),
    ("run_robot", ["--task", "reach", "--episodes", "zero"], "argument --episodes: expected a whole number"),
    ("collect", ["--task", "reach", "--hz", "0"], "argument --hz: must be > 0"),
    ("collect", ["--task", "reach", "--record-to", "garbage"], "argument --record-to: expected tcp://HOST:PORT"),
    ("record", ["--out", "{tmp}/r", "--flush", "0"], "argument --flush: must be > 0"),
    ("record", ["--out", "{tmp}/r", "--endpoint", "tcp://*:5560"], "can be reached from other machines and has no CURVE"),
    ("serve", ["--endpoint", "tcp://0.0.0.0:5555", "--policy", "toy"], "can be reached from other machines"),
    ("teleop_device", ["keyboard", "--rate", "0"], "argument --rate: must be > 0"),
]


@pytest.mark.parametrize("command, argv, says", CASES, ids=[f"{c}:{' '.join(a)}" for c, a, _ in CASES])
def test_a_mistake_is_one_line_naming_the_flag(tmp_path, capsys, command, argv, says):
    main = importlib.import_module(f"hgdagger.cli.{command}").main
    argv = [a.replace("{tmp}", str(tmp_path)) for a in argv]
    try:
        code = main(argv)
    except SystemExit as exit_:  # argparse refuses a flag's value itself
        code = exit_.code
    err = capsys.readouterr().err
    assert code == 2, err
    assert says in err and "Traceback" not in err
    assert len([line for line in err.splitlines() if "error" in line]) == 1, err


def _undocumented_options(help_text: str) -> list[str]:
    """Options listed by --help with no description (argparse then prints the flag alone)."""
    lines = help_text.splitlines()
    bare = []
    for i, line in enumerate(lines):
        if re.fullmatch(r"  (-\w, )?--[\w-]+( \S+)?", line):
            following = lines[i + 1] if i + 1 < len(lines) else ""
            if not re.match(r" {8,}\S", following) or following.lstrip().startswith("-"):
                bare.append(line.strip())
    return bare


def test_every_option_of_every_command_says_what_it_does(capsys):
    from importlib.metadata import entry_points

    missing = {}
    for ep in entry_points(group="console_scripts"):
        if not ep.name.startswith("hgd-"):
            continue
        with pytest.raises(SystemExit):
            ep.load()(["--help"])
        bare = _undocumented_options(capsys.readouterr().out)
        if bare:
            missing[ep.name] = bare
    assert not missing, missing
