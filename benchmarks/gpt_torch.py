"""Tokens per second of ``--engine torch`` beside a plain hand-written PyTorch loop of the same model, on CPU.

    python benchmarks/gpt_torch.py [--rounds 5] [--steps 40] [--threads N] [--device cuda --dtype float32]

Two configs: microgpt's default (n_embd 16, n_head 4, n_layer 1, block 16, one name per step) and
n_layer 4, n_embd 128, block 64, batch 32. The bigger one reads names.txt as one long text cut into
windows of the block (``--data-mode windows``), so that every position of the block is a real token.

In each round, ours (``Training(engine="torch")``: its batches, PaperAdam's update, the schedule, the
history, the all-or-nothing step) and the plain loop (the same ``gpt_to_torch`` module, the same
batches made beforehand, ``torch.optim.Adam`` with the same betas and eps, the learning rate set per
step) each take ``--steps`` steps, alternating A B A B in this one process. Tokens are the real
(unpadded) target tokens; the table gives the median over the rounds and ours / plain per round.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

from micrograd.datasets import names_path  # noqa: E402
from micrograd.gpt import Training, read_documents  # noqa: E402
from micrograd.gpt.training import BETAS, EPS, LEARNING_RATE  # noqa: E402
from micrograd.interop import gpt_to_torch  # noqa: E402


@dataclass(frozen=True)
class Config:
    name: str
    sizes: dict[str, int]
    batch_size: int
    mode: str  # "lines" or "windows"


CONFIGS = [
    Config("default (n_embd 16, n_layer 1, block 16, batch 1)", {}, 1, "lines"),
    Config("n_layer 4, n_embd 128, block 64, batch 32 (windows)",
           {"n_layer": 4, "n_embd": 128, "n_head": 4, "block_size": 64}, 32, "windows"),
]


@dataclass
class Row:
    config: Config
    ours: list[float]  # tokens per second, one per round
    plain: list[float]
    parameters: int


class PlainLoop:
    """The hand-written loop: a module, torch.optim.Adam, padded batches prepared once, mean cross-entropy."""

    def __init__(self, training: Training, steps: int, device: torch.device, dtype: torch.dtype) -> None:
        self.module = gpt_to_torch(training.model).to(device=device, dtype=dtype)
        self.optimizer = torch.optim.Adam(self.module.parameters(), lr=LEARNING_RATE, betas=BETAS, eps=EPS)
        self.total_steps = training.num_steps
        self.step = 0
        block, size = training.model.config.block_size, training.batch_size
        docs = training.docs
        self.batches = []
        for k in range(steps * 64):  # more than the rounds take; cycled
            rows = [training.model.tokenizer.document(docs[(k * size + i) % len(docs)])[: block + 1]
                    for i in range(size)]
            width = max(len(r) for r in rows)
            padded = torch.tensor([r + [-1] * (width - len(r)) for r in rows])
            padded = padded.to(device)
            self.batches.append((padded[:, :-1].clamp(min=0), padded[:, 1:], int((padded[:, 1:] >= 0).sum())))

    def run(self, steps: int) -> int:
        tokens = 0
        for _ in range(steps):
            inputs, targets, count = self.batches[self.step % len(self.batches)]
            for group in self.optimizer.param_groups:
                group["lr"] = LEARNING_RATE * (1 - self.step / self.total_steps)
            logits = self.module(inputs)
            loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), targets.reshape(-1), ignore_index=-1)
            self.optimizer.zero_grad(set_to_none=True)
            loss.backward()  # type: ignore[no-untyped-call]
            self.optimizer.step()
            loss.item()  # the loss is read every step, as ours records it
            self.step += 1
            tokens += count
        return tokens


def tokens_of_steps(training: Training, first: int, steps: int) -> int:
    engine = training.torch_engine()
    return sum(engine.documents_of_step(k)[1] for k in range(first, first + steps))


def measure(config: Config, rounds: int, steps: int, device: str, dtype: str) -> Row:
    data = names_path()
    docs = read_documents(data, config.mode, config.sizes.get("block_size", 16))
    total = steps * (rounds + 1)
    ours = Training.start(docs, total, engine="torch", batch_size=config.batch_size, device=device, dtype=dtype,
                          **config.sizes)
    engine = ours.torch_engine()
    plain = PlainLoop(ours, steps, engine.device, engine.dtype)
    for _ in ours.run(2):  # warm-up: the first steps allocate
        pass
    plain.run(2)
    mine, theirs = [], []
    for _ in range(rounds):
        first = ours.step
        began = time.perf_counter()
        for _ in ours.run(steps):
            pass
        seconds = time.perf_counter() - began
        mine.append(tokens_of_steps(ours, first, steps) / seconds)
        began = time.perf_counter()
        count = plain.run(steps)
        theirs.append(count / (time.perf_counter() - began))
    return Row(config, mine, theirs, ours.model.config.num_parameters)


def table(rows: list[Row]) -> str:
    lines = ["| config | parameters | ours (tokens/s) | plain loop (tokens/s) | ours / plain (min - max) |",
             "|---|---:|---:|---:|---|"]
    for row in rows:
        ratios = sorted(a / b for a, b in zip(row.ours, row.plain, strict=True))
        lines.append(f"| {row.config.name} | {row.parameters:,} | {statistics.median(row.ours):,.0f} | "
                     f"{statistics.median(row.plain):,.0f} | {statistics.median(ratios):.2f}x "
                     f"({ratios[0]:.2f}x - {ratios[-1]:.2f}x) |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--steps", type=int, default=40, help="steps per round for each loop")
    parser.add_argument("--threads", type=int, default=None, help="torch.set_num_threads (default: torch's own)")
    parser.add_argument("--device", default="cpu", choices=["cpu", "cuda", "mps"])
    parser.add_argument("--dtype", default="float64", choices=["float64", "float32"])
    parser.add_argument("--only", choices=["default", "large"], help="measure one config only")
    args = parser.parse_args(argv)
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    load: Any = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"Machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
          f"torch {torch.__version__}, {torch.get_num_threads()} torch threads; load average (1 min) {load:.1f}; "
          f"{args.rounds} rounds of {args.steps} steps each, alternating ours and plain; {args.device}, {args.dtype}",
          flush=True)
    chosen = CONFIGS if args.only is None else [CONFIGS[0 if args.only == "default" else 1]]
    rows = [measure(config, args.rounds, args.steps, args.device, args.dtype) for config in chosen]
    print(table(rows))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
