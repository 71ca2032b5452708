"""The GPT trained with PyTorch: the same model, documents, Adam and schedule as the scalar engines, at tensor speed.

``Training(..., engine="torch")`` hands its steps to ``TorchTraining``, which

* copies the weights of the Values model that ``Training.start`` drew from the seeded stream
  (so the same seed gives the same starting point as microgpt.py), and Adam's buffers from
  ``PaperAdam`` (so a run saved by any engine continues on this one);
* takes, at step k, documents ``k*B .. k*B + B - 1`` (modulo their number) of the run's shuffled
  list, padded to the longest and masked: the loss is the mean over the real tokens of the
  batch. With B = 1 it is microgpt's step on one document;
* updates with Adam in ``PaperAdam``'s order of operations and the learning rate that
  ``LinearLR`` sets, so in float64 on the CPU every loss equals the eager engine's to rounding;
* under ``torchrun`` (RANK / WORLD_SIZE in the environment) wraps the model in
  DistributedDataParallel (gloo on the CPU, nccl on CUDA); each rank takes a contiguous slice
  of the global batch;
* copies everything back into the Values model and ``PaperAdam`` on ``sync()``, which is what
  ``Training.save`` writes: the checkpoint is the one format every engine reads.

Needs PyTorch (``pip install 'micrograd[torch]'``); importing this module does not import it.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from micrograd._engine_names import DEVICES, DTYPES
from micrograd.gpt.model import _sampling_weights

if TYPE_CHECKING:
    import torch

__all__ = [
    "DEVICES", "DTYPES", "DistributedFailure", "Ranks", "TorchTraining", "check_device", "first_error_line",
    "ranks_from_env",
]

PAD = -1  # a target that is not a token: cross_entropy ignores it, so padding adds nothing to the loss


class DistributedFailure(RuntimeError):
    """Another process of a torchrun job went away (killed, out of memory, a lost node): the run cannot go on."""


@dataclass(frozen=True)
class Ranks:
    """Where this process stands in a torchrun job: ``rank`` of ``world`` processes, ``local_rank`` on its machine."""

    rank: int = 0
    world: int = 1
    local_rank: int = 0

    @property
    def main(self) -> bool:
        """Rank 0, the only process that prints and writes files."""
        return self.rank == 0


def ranks_from_env(environ: dict[str, str] | None = None) -> Ranks:
    """The job torchrun started this process in (RANK, WORLD_SIZE, LOCAL_RANK), or a job of one."""
    env = dict(os.environ if environ is None else environ)
    if "WORLD_SIZE" not in env:
        return Ranks()
    numbers: dict[str, int] = {}
    for key in ("RANK", "WORLD_SIZE", "LOCAL_RANK"):
        text = env.get(key, "0")
        try:
            numbers[key] = int(text)
        except ValueError:
            raise ValueError(f"the environment's {key} must be a whole number, got {text!r}") from None
    rank, world, local = numbers["RANK"], numbers["WORLD_SIZE"], numbers["LOCAL_RANK"]
    if world < 1 or not 0 <= rank < world or local < 0:
        raise ValueError(f"the environment says rank {rank} of {world} (local rank {local}), which cannot be")
    return Ranks(rank, world, local)


def _import_torch() -> Any:
    try:
        import torch
    except ImportError:
        raise ImportError("--engine torch needs PyTorch, an optional extra: pip install 'micrograd[torch]'") from None
    return torch


def check_device(device: str, dtype: str, local_rank: int = 0) -> tuple[torch.device, torch.dtype]:
    """The torch device and parameter dtype for these names; ValueError in one line for one that cannot run.

    ``bfloat16`` keeps the parameters and Adam in float32 and computes the model under autocast
    (mixed precision): Adam's small updates vanish in bfloat16's 8-bit mantissa.
    """
    if device not in DEVICES:
        raise ValueError(f"device must be one of {', '.join(DEVICES)}, got {device!r}")
    if dtype not in DTYPES:
        raise ValueError(f"dtype must be one of {', '.join(DTYPES)}, got {dtype!r}")
    torch = _import_torch()
    if device == "cuda":
        if not torch.cuda.is_available():
            raise ValueError(f"--device cuda: no CUDA GPU is available to this PyTorch ({torch.__version__})")
        if local_rank >= torch.cuda.device_count():
            raise ValueError(f"--device cuda: local rank {local_rank} needs GPU {local_rank}, but there are "
                             f"{torch.cuda.device_count()}")
        if dtype == "bfloat16" and not torch.cuda.is_bf16_supported():
            raise ValueError(f"--dtype bfloat16: {torch.cuda.get_device_name(local_rank)} does not support it; "
                             "use --dtype float32")
        where = torch.device("cuda", local_rank)
    elif device == "mps":
        if not torch.backends.mps.is_available():
            raise ValueError("--device mps: no Apple GPU (MPS) is available to this PyTorch")
        if dtype == "float64":
            raise ValueError("--device mps does not support float64; use --dtype float32")
        if dtype == "bfloat16" and not _makes_tensor(torch, "mps", torch.bfloat16):
            raise ValueError("--dtype bfloat16: this Mac's MPS does not support it; use --dtype float32")
        where = torch.device("mps")
    else:
        where = torch.device("cpu")
    return where, (torch.float64 if dtype == "float64" else torch.float32)


def _makes_tensor(torch: Any, device: str, dtype: Any) -> bool:
    try:
        torch.zeros(1, device=device, dtype=dtype)
    except (RuntimeError, TypeError):
        return False
    return True


class TorchTraining:
    """A ``Training``'s steps computed with PyTorch; ``sync()`` copies them into the Values model and PaperAdam."""

    def __init__(self, training: Any, *, device: str = "cpu", dtype: str = "float64", batch_size: int = 1,
                 ranks: Ranks | None = None) -> None:
        _import_torch()  # the one-line install hint, before interop's own
        from micrograd.interop import _gpt_matrices, gpt_to_torch

        self.training = training
        self.ranks = ranks if ranks is not None else ranks_from_env()
        self.device, self.dtype = check_device(device, dtype, self.ranks.local_rank)
        self.autocast = dtype == "bfloat16"
        self.batch_size = batch_size
        if batch_size < self.ranks.world:
            raise ValueError(f"--batch-size {batch_size} is smaller than the {self.ranks.world} processes; "
                             "each process needs at least one document per step")
        model = training.model
        self.module = gpt_to_torch(model).to(device=self.device, dtype=self.dtype)
        self.params: list[torch.Tensor] = [self.module.get_parameter(name) for name, _ in _gpt_matrices(model)]
        self.exp_avg = self._like_params(training.optimizer.exp_avg)
        self.exp_avg_sq = self._like_params(training.optimizer.exp_avg_sq)
        self.tokens, self.lengths = self._token_table(training.docs, model)
        self.net: Any = self.module
        if self.ranks.world > 1:
            self.net = self._distributed()

    def _like_params(self, flat: Sequence[float]) -> list[torch.Tensor]:
        """A flat list in ``model.parameters()`` order as tensors shaped as the parameters (the same order)."""
        import torch

        whole = torch.tensor(flat, dtype=torch.float64)
        pieces = torch.split(whole, [p.numel() for p in self.params])
        return [piece.view(p.shape).to(device=self.device, dtype=self.dtype) for piece, p in zip(pieces, self.params,
                                                                                                  strict=True)]

    def _token_table(self, docs: Sequence[str], model: Any) -> tuple[torch.Tensor, list[int]]:
        """Every document's first block_size + 1 tokens as one (num_docs, block_size + 1) table, padded with PAD.

        A row's positions < n are the inputs and its positions 1 .. n the targets, n = min(block_size, len - 1):
        a step slices its rows once instead of encoding its documents again.
        """
        import torch

        width = model.config.block_size + 1
        rows, lengths = [], []
        for doc in docs:
            ids = model.tokenizer.document(doc)[:width]
            lengths.append(len(ids) - 1)
            rows.append(ids + [PAD] * (width - len(ids)))
        table = torch.tensor(rows, dtype=torch.int32)  # a token is a character or BOS: fewer than 2**31 of them
        return table.to(self.device), lengths

    def _distributed(self) -> Any:
        import torch.distributed as dist
        from torch.nn.parallel import DistributedDataParallel

        if not dist.is_initialized():
            backend = "nccl" if self.device.type == "cuda" else "gloo"
            try:
                dist.init_process_group(backend, rank=self.ranks.rank, world_size=self.ranks.world)
            except (RuntimeError, ValueError) as error:
                raise DistributedFailure(f"could not join the other processes: {first_error_line(error)}") from None
        ids = [self.device.index] if self.device.type == "cuda" else None
        try:  # DDP's constructor broadcasts rank 0's weights: every rank starts from the same ones anyway
            return DistributedDataParallel(self.module, device_ids=ids)
        except RuntimeError as error:
            raise DistributedFailure(f"could not start DistributedDataParallel: {first_error_line(error)}") from None

    # ------------------------------------------------------------------
    # A step

    def documents_of_step(self, step: int) -> tuple[list[int], int]:
        """This rank's rows for 0-based ``step`` (a contiguous slice of the global batch) and the global token count."""
        count = len(self.lengths)
        batch = [(step * self.batch_size + i) % count for i in range(self.batch_size)]
        world, rank = self.ranks.world, self.ranks.rank
        low, high = rank * len(batch) // world, (rank + 1) * len(batch) // world
        return batch[low:high], sum(self.lengths[i] for i in batch)

    def step(self) -> float:
        """One update on the batch of ``training.step``; increments the optimizer's step count; returns the loss."""
        import torch

        training = self.training
        rows, total = self.documents_of_step(training.step)
        inputs, targets = self._batch(rows)
        try:
            loss_sum = self._backward(inputs, targets, total)
            if self.ranks.world > 1:
                import torch.distributed as dist

                dist.all_reduce(loss_sum)  # every rank's sum over its real tokens: the global batch's
        except RuntimeError as error:
            self.zero_grad()
            if self.ranks.world > 1 and _is_lost_peer(error):
                raise DistributedFailure(f"rank {self.ranks.rank} of {self.ranks.world}: another process stopped "
                                         f"({first_error_line(error)})") from None
            raise
        optimizer = training.optimizer
        with torch.no_grad():
            self._adam(optimizer.lr, optimizer.step_count + 1)
        optimizer.step_count += 1
        value: float = loss_sum.item() * (1 / total)  # as the eager loss: the sum times 1/n
        return value

    def _batch(self, rows: list[int]) -> tuple[torch.Tensor, torch.Tensor]:
        """(inputs, targets) of shape (b, T), T the longest of these documents; padding is PAD in the targets."""
        import torch

        width = max(self.lengths[i] for i in rows)
        if rows == list(range(rows[0], rows[0] + len(rows))):  # the usual case: a slice, no gather
            block = self.tokens[rows[0] : rows[0] + len(rows), : width + 1]
        else:
            block = self.tokens[torch.tensor(rows, device=self.device)][:, : width + 1]
        block = block.long()
        return block[:, :-1].clamp(min=0), block[:, 1:]

    def _backward(self, inputs: torch.Tensor, targets: torch.Tensor, total: int) -> torch.Tensor:
        """Gradients of this rank's share of the global mean; returns the (detached) sum of its token losses."""
        import torch
        import torch.nn.functional as F

        with torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.autocast):
            logits = self.net(inputs)
        logits = logits.to(self.dtype)
        loss_sum = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), targets.reshape(-1), ignore_index=PAD,
                                   reduction="sum")
        # DDP averages the gradients of the ranks; scaled by the number of ranks, that average is the gradient
        # of the global batch's sum over its real tokens divided by their count: the mean microgpt takes.
        torch.autograd.backward(loss_sum * (self.ranks.world / total))
        return loss_sum.detach()

    def _adam(self, lr: float, t: int) -> None:
        """``PaperAdam.step`` on tensors: the same operations in the same order, so the same rounding in float64."""
        import torch

        optimizer = self.training.optimizer
        beta1, beta2 = optimizer.betas
        grads = [p.grad if p.grad is not None else torch.zeros_like(p) for p in self.params]
        if optimizer.weight_decay != 0.0:  # PaperAdam's L2 term, g + weight_decay * p (a resumed state may carry one)
            grads = list(torch._foreach_add(grads, torch._foreach_mul(self.params, optimizer.weight_decay)))
        m = torch._foreach_add(torch._foreach_mul(self.exp_avg, beta1), torch._foreach_mul(grads, 1 - beta1))
        squares = torch._foreach_mul(grads, grads)
        v = torch._foreach_add(torch._foreach_mul(self.exp_avg_sq, beta2), torch._foreach_mul(squares, 1 - beta2))
        m_hat = torch._foreach_div(m, 1 - beta1**t)
        v_hat = torch._foreach_div(v, 1 - beta2**t)
        denominators = torch._foreach_add(torch._foreach_sqrt(v_hat), optimizer.eps)
        updates = torch._foreach_div(torch._foreach_mul(m_hat, lr), denominators)
        torch._foreach_sub_(self.params, list(updates))
        self.exp_avg, self.exp_avg_sq = list(m), list(v)
        self.zero_grad()

    def zero_grad(self) -> None:
        for p in self.params:
            p.grad = None

    # ------------------------------------------------------------------
    # All or nothing, and the Values model

    def state(self) -> tuple[list[torch.Tensor], list[torch.Tensor], list[torch.Tensor]]:
        """What a step changes: the parameters (copied; the step updates them in place) and Adam's buffers.

        The buffers are not copied: a step makes new ones and only then puts them in place.
        """
        return [p.detach().clone() for p in self.params], self.exp_avg, self.exp_avg_sq

    def put_back(self, state: tuple[list[torch.Tensor], list[torch.Tensor], list[torch.Tensor]]) -> None:
        import torch

        params, self.exp_avg, self.exp_avg_sq = state
        with torch.no_grad():
            for p, saved in zip(self.params, params, strict=True):
                p.copy_(saved)
        self.zero_grad()

    def sync(self) -> None:
        """Copy the parameters into the Values model and Adam's buffers into ``PaperAdam`` (for saving or sampling)."""
        optimizer = self.training.optimizer
        for value, number in zip(optimizer.params, self._flat(self.params), strict=True):
            value.data = number
            value.grad = 0.0
        optimizer.exp_avg[:] = self._flat(self.exp_avg)
        optimizer.exp_avg_sq[:] = self._flat(self.exp_avg_sq)

    @staticmethod
    def _flat(tensors: Sequence[torch.Tensor]) -> list[float]:
        import torch

        whole = torch.cat([t.detach().reshape(-1).to(device="cpu", dtype=torch.float64) for t in tensors])
        numbers: list[float] = whole.tolist()
        return numbers

    # ------------------------------------------------------------------
    # Reading the model: samples and attention, as the Values model gives them

    def generate(self, num: int = 20, temperature: float = 0.5, seed: int | None = None,
                 prefix: str = "") -> Iterator[str]:
        """The documents ``GPT.samples`` draws, the logits computed by the torch module (same draws, same stream)."""
        return sample_with_module(self.module, self.training.model, num, temperature, seed, prefix)

    def attention_weights(self, text: str) -> list[list[list[list[float]]]]:
        """``GPT.attention_weights`` from the torch module: ``[layer][t][head][s]`` for s <= t."""
        return attention_with_module(self.module, self.training.model, text)


def sample_with_module(module: Any, model: Any, num: int, temperature: float, seed: int | None,
                       prefix: str) -> Iterator[str]:
    """``model.samples(...)`` with each position's logits from ``module`` (a ``gpt_to_torch`` module of its weights).

    The draws are the Values model's: ``random.choices`` from ``model.rng`` (or ``Random(seed)``) with the
    weights of ``_sampling_weights``, so a module with the same weights gives the same documents.
    """
    return _draw(module, model, num, temperature, *model._sampling(num, temperature, seed, prefix))


def _draw(module: Any, model: Any, num: int, temperature: float, choices: Callable[..., list[int]],
          forced: list[int]) -> Iterator[str]:
    import torch

    device = next(module.parameters()).device
    tokens_range = range(model.config.vocab_size)
    for _ in range(num):
        tokens = [model.bos]
        sample = [model.chars[i] for i in forced]
        for position in range(model.config.block_size):
            if position < len(forced):
                tokens.append(forced[position])
                continue
            with torch.no_grad():
                row = module(torch.tensor([tokens], device=device))[0, -1]
            logits = row.to(device="cpu", dtype=torch.float64).tolist()  # floats: the sampler takes them as they are
            token = choices(tokens_range, weights=_sampling_weights(logits, temperature))[0]
            if token == model.bos:
                break
            sample.append(model.chars[token])
            tokens.append(token)
        yield "".join(sample)


def attention_with_module(module: Any, model: Any, text: str) -> list[list[list[list[float]]]]:
    """What each head of ``module`` looks at while reading ``[BOS] + text``, as ``GPT.attention_weights`` returns it."""
    import torch

    tokens = [model.bos, *model.tokenizer.encode(text)][: model.config.block_size]
    device = next(module.parameters()).device
    recorded: list[torch.Tensor] = []
    with torch.no_grad():
        module(torch.tensor([tokens], device=device), recorded)
    layers = []
    for weights in recorded:  # (1, heads, T, T), zero above the diagonal
        table = weights[0].to(device="cpu", dtype=torch.float64).tolist()
        layers.append([[head[t][: t + 1] for head in table] for t in range(len(tokens))])
    return layers


def first_error_line(error: BaseException) -> str:
    """The gist of a torch or gloo error: "[pair.cc:537] Read error [host]:port: Connection reset by peer. This
    is typically ..." becomes "Connection reset by peer"."""
    text = str(error).strip()
    line = text.splitlines()[0] if text else type(error).__name__
    if line.startswith("[") and "] " in line:  # the C++ source location
        line = line.split("] ", 1)[1]
    line = line.split(". ", 1)[0]
    return line.rsplit(": ", 1)[-1].strip() or line


def _is_lost_peer(error: RuntimeError) -> bool:
    """A collective that failed because another rank is gone (gloo: connection closed or reset; nccl: aborted)."""
    import torch.distributed as dist

    if isinstance(error, dist.DistError):
        return True
    text = str(error).lower()
    return any(word in text for word in ("connection", "peer", "gloo", "nccl", "timed out", "broken pipe"))
