"""Arguments shared by several subcommands."""

from __future__ import annotations

import argparse

from openami.presets import Preset, load_preset, preset_names


def add_preset_argument(parser: argparse.ArgumentParser, default: str | None = "tworoom",
                        default_text: str = "tworoom") -> None:
    parser.add_argument("--preset", default=default, metavar="NAME|FILE",
                        help=f"recipe of every setting: a built-in preset ({', '.join(preset_names())}) "
                             f"or a YAML file shaped like openami/configs/tworoom.yaml (default: {default_text})")


def preset_from(args: argparse.Namespace) -> Preset:
    return load_preset(args.preset)


def add_device_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--device", default=None, help="torch device, e.g. cpu or cuda (default: the preset's)")


def load_for_planning(args: argparse.Namespace):
    """The trained model in --run, its run config, and the preset's planning settings with flags applied."""
    from openami.training import load_model

    config = preset_from(args).eval
    if args.planner:
        config = config.replace(planner=args.planner)
    if args.device:
        config = config.replace(device=args.device)
    if getattr(args, "compile", False):
        config = config.replace(compile=True)
    model, run_config = load_model(args.run, config.device)
    return model, run_config, config
