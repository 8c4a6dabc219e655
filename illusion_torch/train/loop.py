"""The shared QPyTorch training loop: fixed-point weights via ``OptimLP``, activations via ``Quantizer``.

Usage::

    from illusion_torch.train import Recipe, train
    recipe = Recipe(name="mnist", model="mnist", dataset="mnist", epochs=20, optimizer="adam", lr=2e-3)
    meta = train(recipe, out_dir="checkpoints")      # writes checkpoints/mnist.pt and mnist.json

How weights become fixed point: ``OptimLP`` keeps a float master copy of every parameter (its
accumulator), steps it with the float gradient (the loss is scaled by ``loss_scale`` and the gradient by
1/``loss_scale``, as in the paper's recipe) and writes ``weight_quant(master)`` — nearest rounding to the
model's ``weight_format`` — into the parameter the forward pass uses. Every ``QuantPoint`` uses qtorch's
``Quantizer`` while training (straight-through gradient), our bit-identical rounding otherwise.
qtorch (a JIT-compiled extension) is imported here only, lazily, when training starts.

Resumable: ``<out_dir>/<name>.state.pt`` holds the master weights, optimizer, schedule, epoch and RNG
states after each epoch; it is removed once the checkpoint is written.
"""

from __future__ import annotations

import json
import shlex
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn
from tqdm import tqdm

from .. import data as il_data
from .. import interrupt, models
from ..checkpoint.files import save_checkpoint
from ..errors import IllusionError
from ..files import write_atomic
from ..fixed.layers import float_mode, quant_points
from ..metrics.batched import accuracy
from ..workload import config_of

__all__ = ["Recipe", "train", "make_optimizer", "use_qtorch_quantizers", "shift_augment", "run_epochs",
           "Masters"]

Masters = dict[int, torch.Tensor]      # id(parameter) -> its float master copy (OptimLP's accumulator)


@dataclass
class Recipe:
    """Everything that decides a training run; recorded in the checkpoint JSON."""

    name: str
    model: str
    dataset: str
    epochs: int
    optimizer: str = "adam"            # "sgd" | "adam"
    lr: float = 1e-3
    momentum: float = 0.9
    weight_decay: float = 0.0
    batch_size: int = 128
    lr_step: int = 10                  # StepLR period in epochs
    lr_gamma: float = 0.1
    loss_scale: float = 1000.0
    shift: int = 0                     # random ±shift-pixel translation (images only)
    seed: int = 0
    train_limit: int | None = None
    notes: str = ""
    model_kwargs: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        for name in ("epochs", "batch_size", "lr_step"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
                raise IllusionError(f"recipe {self.name!r}: {name} must be a positive whole number, got {value!r}")
        if not self.lr > 0 or self.lr == float("inf"):
            raise IllusionError(f"recipe {self.name!r}: the learning rate must be a positive number, got {self.lr}")


def use_qtorch_quantizers(model: nn.Module, enable: bool = True) -> None:
    """Route every QuantPoint through qtorch's ``Quantizer`` (nearest forward, straight-through backward)."""
    if enable:
        from qtorch import FixedPoint as QFixedPoint
        from qtorch.quant import Quantizer
    for point in quant_points(model):
        if enable:
            fmt = point.format
            point.set_quantizer(Quantizer(forward_number=QFixedPoint(fmt.wl, fmt.fl), backward_number=None,
                                          forward_rounding="nearest", backward_rounding="nearest"))
        else:
            point.set_quantizer(None)


def make_optimizer(model: nn.Module, recipe: Recipe, params=None):
    """``OptimLP`` over SGD or Adam with nearest weight rounding to ``model.weight_format``, float master copy."""
    from qtorch import FixedPoint as QFixedPoint
    from qtorch.quant import quantizer

    params = list(model.parameters()) if params is None else list(params)
    base: torch.optim.Optimizer
    if recipe.optimizer == "sgd":
        base = torch.optim.SGD(params, lr=recipe.lr, momentum=recipe.momentum, weight_decay=recipe.weight_decay)
    elif recipe.optimizer == "adam":
        base = torch.optim.Adam(params, lr=recipe.lr, weight_decay=recipe.weight_decay)
    else:
        raise IllusionError(f"unknown optimizer {recipe.optimizer!r}: use 'sgd' or 'adam'")
    fmt = config_of(model).weight_format
    if fmt is None:
        raise IllusionError(f"{type(model).__name__} has no fixed-point weight format to train to")
    weight_quant = quantizer(forward_number=QFixedPoint(fmt.wl, fmt.fl), forward_rounding="nearest")
    from qtorch.optim import OptimLP

    def keep(x: torch.Tensor) -> torch.Tensor:
        return x

    optimizer = OptimLP(base, weight_quant=weight_quant, grad_scaling=1.0 / recipe.loss_scale,
                        grad_quant=keep, acc_quant=keep)
    scheduler = torch.optim.lr_scheduler.StepLR(base, step_size=recipe.lr_step, gamma=recipe.lr_gamma)
    return optimizer, scheduler


def shift_augment(x: torch.Tensor, shift: int, generator: torch.Generator) -> torch.Tensor:
    """Translate each image by a random integer offset in [-shift, shift]², padding with the background."""
    if shift <= 0 or x.dim() != 4:
        return x
    n, _, h, w = x.shape
    pad = F.pad(x, (shift, shift, shift, shift), value=float(x.min()))
    dx = torch.randint(0, 2 * shift + 1, (n,), generator=generator)
    dy = torch.randint(0, 2 * shift + 1, (n,), generator=generator)
    rows = (dy[:, None] + torch.arange(h)[None, :])[:, None, :, None].expand(n, x.shape[1], h, w + 2 * shift)
    cropped = pad.gather(2, rows)
    cols = (dx[:, None] + torch.arange(w)[None, :])[:, None, None, :].expand(n, x.shape[1], h, w)
    return cropped.gather(3, cols)


def _same_run(saved: dict | None, recipe: Recipe) -> bool:
    """A saved state may be resumed by the same recipe, or the same with more epochs."""
    if saved is None:
        return False
    now = asdict(recipe)
    return {k: v for k, v in saved.items() if k != "epochs"} == {k: v for k, v in now.items() if k != "epochs"}


def run_epochs(model: nn.Module, recipe: Recipe, loss_fn: Callable[[Any, torch.Tensor, torch.Tensor],
               torch.Tensor], x: torch.Tensor, y: torch.Tensor, state_path: Path,
               params=None, on_epoch: Callable[[int], None] | None = None) -> Masters:
    """Train ``model`` in place for ``recipe.epochs`` epochs, resuming from ``state_path`` when it exists.

    ``on_epoch(epoch)`` runs before each epoch (e.g. to decay an exploration rate). Returns the float master
    copies of the trained parameters (for ``float_accuracy``).
    """
    optimizer, scheduler = make_optimizer(model, recipe, params)
    gen = torch.Generator().manual_seed(recipe.seed)
    start = 0
    if state_path.is_file():
        try:
            state = torch.load(state_path, weights_only=False)
        except Exception as e:  # a truncated or foreign file: say which one to delete
            raise IllusionError(f"the training state {state_path} is unreadable ({type(e).__name__}); delete it "
                                f"to start over") from None
        if not _same_run(state.get("recipe"), recipe):
            raise IllusionError(f"{state_path} was saved by a different recipe; delete it to start over, or "
                             f"resume with the recipe it records: {state.get('recipe')}")
        model.load_state_dict(state["model"])
        masters = state["masters"]
        for group in optimizer.param_groups:
            for p in group["params"]:
                optimizer.weight_acc[p] = masters.pop(0)
        optimizer.optim.load_state_dict(state["optim"])
        scheduler.load_state_dict(state["scheduler"])
        gen.set_state(state["generator"])
        start = state["epoch"]
        print(f"resuming {recipe.name} at epoch {start}", file=sys.stderr)
    use_qtorch_quantizers(model)
    try:
        for epoch in range(start, recipe.epochs):
            model.train()
            if on_epoch is not None:
                on_epoch(epoch)
            order = torch.randperm(len(y), generator=gen)
            bar = tqdm(range(0, len(y), recipe.batch_size), desc=f"{recipe.name} epoch {epoch + 1}/{recipe.epochs}",
                       leave=False, file=sys.stderr, mininterval=0.5 if sys.stderr.isatty() else 60)
            total = 0.0
            for i in bar:
                idx = order[i:i + recipe.batch_size]
                xb = shift_augment(x[idx], recipe.shift, gen)
                loss = loss_fn(model, xb, y[idx])
                optimizer.zero_grad()
                (loss * recipe.loss_scale).backward()
                optimizer.step()
                total += float(loss.detach()) * len(idx)
                bar.set_postfix(loss=f"{float(loss.detach()):.4f}", refresh=False)
            scheduler.step()
            print(f"{recipe.name} epoch {epoch + 1}: loss {total / len(y):.4f}", file=sys.stderr)
            masters = [optimizer.weight_acc[p] for g in optimizer.param_groups for p in g["params"]]
            state = {"model": model.state_dict(), "masters": masters, "optim": optimizer.optim.state_dict(),
                     "scheduler": scheduler.state_dict(), "generator": gen.get_state(), "epoch": epoch + 1,
                     "recipe": asdict(recipe)}
            write_atomic(state_path, partial(torch.save, state))
            if epoch == start:
                interrupt.kept(f"the training state {state_path} (the same command resumes from it)")
    finally:
        use_qtorch_quantizers(model, enable=False)
    return {id(p): optimizer.weight_acc[p] for g in optimizer.param_groups for p in g["params"]}


def float_accuracy(model: nn.Module, masters: Masters, x: torch.Tensor, y: torch.Tensor) -> float:
    """Accuracy with the float master weights and every QuantPoint disabled (the float reference)."""
    params = list(model.parameters())
    saved = [p.detach().clone() for p in params]
    with torch.no_grad():
        for p in params:
            if id(p) in masters:
                p.copy_(masters[id(p)])
        with float_mode(model):
            acc = accuracy(model, x, y)
        for p, s in zip(params, saved, strict=True):
            p.copy_(s)
    return acc


def train(recipe: Recipe, *, out_dir: str | Path = "checkpoints") -> dict:
    """Train ``recipe`` with cross-entropy and write ``<out_dir>/<name>.pt`` + ``.json``; returns the JSON."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(recipe.seed)
    model = models.get_model(recipe.model, **recipe.model_kwargs)
    x, y = il_data.load(recipe.dataset, "train", limit=recipe.train_limit)
    xt, yt = il_data.load(recipe.dataset, "test")
    started = time.time()
    masters = run_epochs(model, recipe, lambda m, xb, yb: F.cross_entropy(m(xb), yb), x, y,
                         out_dir / f"{recipe.name}.state.pt")
    meta = {"train_seconds": round(time.time() - started, 1),
            "float_test_accuracy": float_accuracy(model, masters, xt, yt)}
    return finish(model, recipe, meta, len(y), xt, yt, out_dir)


def finish(model: nn.Module, recipe: Recipe, meta: dict, train_size: int, xt: torch.Tensor, yt: torch.Tensor,
           out_dir: Path) -> dict:
    """Measure fixed-point test accuracy, then write the checkpoint and its JSON; drop the resume state."""
    described = il_data.describe(recipe.dataset)
    full = {
        "name": recipe.name,
        "model": recipe.model,
        "dataset": described["dataset"],
        "synthetic": described["synthetic"],
        "source": described["source"],
        "train_size": train_size,
        "test_size": len(yt),
        "test_accuracy": accuracy(model, xt, yt),
        "weight_bytes": models.weight_bytes(model),
        "weight_format": str(config_of(model).weight_format),
        "recipe": asdict(recipe),
        "command": " ".join(shlex.quote(a) for a in sys.argv),
        "torch": torch.__version__,
        **meta,
    }
    save_checkpoint(model, full, out_dir)
    state = out_dir / f"{recipe.name}.state.pt"
    if state.exists():
        state.unlink()
    print(json.dumps({k: full[k] for k in ("name", "test_accuracy", "float_test_accuracy", "weight_bytes")}))
    return full
