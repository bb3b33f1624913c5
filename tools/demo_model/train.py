"""``python -m tools.demo_model.train --out resources/demo_model``: train the bundled demo model.

Developer tooling, not shipped in the wheel.

Builds the small DiffusionGemma checkpoint (tokenizer, config, weights) and
trains it for a fixed wall-clock budget with the block-diffusion objective; see
``tools/demo_model/training.py`` and docs/demo_model.md.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m tools.demo_model.train", description=__doc__.splitlines()[0])
    p.add_argument("--out", required=True, help="output folder, e.g. resources/demo_model")
    p.add_argument("--minutes", type=float, default=30.0, help="training time budget (default 30)")
    p.add_argument("--batch-size", type=int, default=None, help="examples per optimisation step")
    p.add_argument("--lr", type=float, default=None, help="peak learning rate")
    p.add_argument("--seed", type=int, default=0, help="seed for data, initialisation and noise")
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's choice)")
    p.add_argument("--plot", default=None, metavar="PNG", help="also draw the loss curve to this PNG")
    return p


def run(args: argparse.Namespace) -> int:
    import torch

    from tools.demo_model.training import TrainConfig, plot_loss, train

    if args.threads:
        torch.set_num_threads(args.threads)
    config = TrainConfig(minutes=args.minutes, seed=args.seed)
    if args.batch_size:
        config = replace(config, batch_size=args.batch_size)
    if args.lr:
        config = replace(config, peak_lr=args.lr)

    def report(line: str) -> None:
        print(line, file=sys.stderr, flush=True)

    record = train(args.out, config, report=report)
    if args.plot:
        report(f"wrote {plot_loss(record, args.plot)}")
    return 0


if __name__ == "__main__":
    sys.exit(run(build_parser().parse_args()))
