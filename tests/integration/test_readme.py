"""The README's promises: its two commands, and what it names, exist and agree with CI."""

import re
import shlex
from pathlib import Path

from openami.cli.main import COMMANDS
from openami.evaluation.protocols import PROTOCOLS
from openami.presets import preset_names

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text()


def test_the_two_commands_are_there_and_ci_runs_the_test_command():
    blocks = re.findall(r"```bash\n(.*?)```", README, flags=re.S)
    assert blocks[0].strip() == "./install.sh && ami demo"
    test_command = blocks[1].strip()
    ci = (ROOT / ".ci" / "run").read_text().splitlines()
    assert test_command in ci, f".ci/run must run the README's test command {test_command!r}"
    assert "bash install.sh" in ci


def test_every_ami_command_in_the_readme_exists_with_its_flags():
    from openami.cli.main import build_parser, expand_shorthand

    parser = build_parser()
    for line in README.splitlines():
        line = line.split("#")[0].strip()
        if not line.startswith("ami "):
            continue
        args = shlex.split(line)[1:]
        assert args[0] in COMMANDS, line
        parser.parse_args(expand_shorthand(args))  # exits (fails the test) on an unknown flag


def test_named_presets_and_protocols_exist():
    for name in re.findall(r"--preset ([\w-]+)", README):
        assert name in preset_names(), name
    for name in re.findall(r"`(tworoom-[\w]+)`", README):
        assert name in PROTOCOLS.names() or name in preset_names(), name
