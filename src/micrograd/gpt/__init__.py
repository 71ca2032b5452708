"""A GPT on scalar Values: Karpathy's microgpt.py, built from ``micrograd.nn`` pieces.

The architecture, step for step as microgpt.py (February 2026) has it:

    x = rmsnorm(wte[token] + wpe[position])
    for each layer:
        x = x + attention(rmsnorm(x))          # causal, multi-head, with a key/value cache
        x = x + fc2(relu(fc1(rmsnorm(x))))     # MLP of 4x width
    logits = lm_head(x)                        # no biases anywhere

trained on one document per step (``[BOS] + characters + [BOS]``, cropped to
the block size) with the mean cross-entropy of predicting each next token,
and Adam (betas 0.85, 0.99, eps 1e-8) with a learning rate decaying linearly
to 0. With the same seed and sizes it computes the same numbers as
microgpt.py: Python's ``random`` seeded with S shuffles the documents, then
draws every weight from ``gauss(0, 0.08)`` in microgpt.py's order (wte, wpe,
lm_head, then per layer wq, wk, wv, wo, fc1, fc2), and the samples at the end
are drawn from the same stream.

    training = train(read_documents("names.txt"), steps=1000)
    print(training.history[-1])                 # {'step': 1000, 'loss': ...}
    for i, name in enumerate(training.model.generate(20, temperature=0.5), 1):
        print(f"sample {i:2d}: {name}")

A step runs on one of three engines: ``eager`` builds the graph of Values (the
engine a learner reads; the hot spots are fused nodes of the op table), ``numpy``
(needs numpy; once called ``compiled``) records that graph once and replays it
with arrays, and ``torch`` (``micrograd.gpt.torch_engine``, needs PyTorch) runs
the same model in PyTorch, with batches, bigger sizes, a GPU or several processes
under torchrun. All give microgpt.py's losses and samples (torch in float64 on
the CPU, to rounding). ``micrograd gpt train`` / ``micrograd gpt sample`` are the
command line.

The package: ``tokenizer`` (documents and characters to ids), ``model`` (the GPT), ``training``
(the run), ``checkpoint`` (the JSON file) and ``torch_engine`` (the run's steps in PyTorch).
"""

from micrograd.gpt.checkpoint import CheckpointError, load, load_checkpoint, save
from micrograd.gpt.model import GPT, GPTConfig, from_torch
from micrograd.gpt.tokenizer import Tokenizer, documents, read_documents
from micrograd.gpt.training import BETAS, EPS, Training, train

__all__ = [
    "BETAS",
    "CheckpointError",
    "EPS",
    "GPT",
    "GPTConfig",
    "Tokenizer",
    "Training",
    "documents",
    "from_torch",
    "load",
    "load_checkpoint",
    "read_documents",
    "save",
    "train",
]
