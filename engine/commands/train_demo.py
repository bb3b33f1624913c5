"""``python -m engine train-demo --out resources/demo_model``: train the bundled demo model.

Builds the small DiffusionGemma checkpoint (tokenizer, config, weights) and
trains it for a fixed wall-clock budget with the block-diffusion objective; see
``engine/demo_training.py`` and docs/demo_model.md.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import replace


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("train-demo", help="train the bundled CPU demo model (block-diffusion objective)")
    p.add_argument("--out", required=True, help="output folder, e.g. resources/demo_model")
    p.add_argument("--minutes", type=float, default=30.0, help="training time budget (default 30)")
    p.add_argument("--batch-size", type=int, default=None, help="examples per optimisation step")
    p.add_argument("--lr", type=float, default=None, help="peak learning rate")
    p.add_argument("--seed", type=int, default=0, help="seed for data, initialisation and noise")
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's choice)")
    p.add_argument("--plot", default=None, metavar="PNG", help="also draw the loss curve to this PNG")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import torch

    from engine.demo_training import TrainConfig, plot_loss, train

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
