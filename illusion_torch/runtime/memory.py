"""A chip's memory image: its weights as integer codes at addresses, its activation buffers, and how often
each address is read and written.

Usage::

    from illusion_torch.runtime.memory import build_images
    images = build_images(profile, programs, weight_format)       # one MemoryImage per chip
    img = images[0]
    img.regions[0].name, img.regions[0].address, img.regions[0].codes[:4]
    img.nvm_bytes, img.act_bytes
    img.write_counts("act", runs)      # writes per activation byte address after ``runs`` inferences

Two address spaces per chip: ``nvm`` (weights, the capacity a mapping fills; one value per
``bytes_per_value`` bytes) and ``act`` (activation buffers and the inbox for received messages; one region
per stored tensor, each starting on a 16-bit word, no reuse between tensors — an upper bound on buffer
size). Weight codes are
value × 2^fl at the model's ``weight_format``; a float model (no format) keeps its values where the
programs hold them (no second copy: the image records their place and size).
Read/write patterns are per inference and uniform within a region, so counts after any number of
inferences are exact in closed form: pattern × inferences that ran the region's branch.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

import torch
from torch import nn

from ..cost.profile import Profile, StoreKind
from ..errors import IllusionError
from ..fixed import FixedPoint, grid_fl

__all__ = ["Region", "RegionKind", "Space", "MemoryImage", "build_images", "load_weights", "ImageError"]


class ImageError(IllusionError):
    """A weight is not representable at the model's fixed-point format."""


class Space(StrEnum):
    NVM = "nvm"             # weights: the capacity a mapping fills
    ACT = "act"             # activation buffers and the inbox


class RegionKind(StrEnum):
    WEIGHT = "weight"
    ACTIVATION = StoreKind.ACTIVATION.value
    INBOX = StoreKind.INBOX.value


@dataclass
class Region:
    name: str
    space: Space
    address: int                    # byte offset in its space
    numel: int
    bytes_per_value: int
    reads_per_value: float          # per inference of its branch
    writes_per_value: float
    branch: int | None
    kind: RegionKind
    codes: torch.Tensor | None = None       # weights: int64 codes (None for a float model: the programs' own
    #                                         tensor is the stored value, held once)
    fmt: FixedPoint | None = None
    shape: tuple = ()
    module: str = ""
    param: str = ""

    @property
    def nbytes(self) -> int:
        return self.numel * self.bytes_per_value

    def values(self) -> torch.Tensor:
        """The stored weights as real values (codes × 2^-fl), in the parameter's shape."""
        if self.codes is None or self.fmt is None:
            raise IllusionError(f"region {self.name} holds a float model's weights in place, not codes")
        return (self.codes.double() * 2.0 ** -self.fmt.fl).reshape(self.shape)

    def load_into(self, param: torch.Tensor, codes: torch.Tensor | None = None) -> None:
        """What the chip computes with: this region's codes (or ``codes`` read in their place, e.g. with stuck
        bits) × 2^-fl, written into ``param`` in its dtype — the one loader of images into weights (the runtime,
        the stuck-bit programs and every distributed rank use it)."""
        if codes is None:
            values = self.values()
        else:
            if self.fmt is None:
                raise IllusionError(f"region {self.name} holds a float model's weights in place, not codes")
            values = (codes.double() * 2.0 ** -self.fmt.fl).reshape(self.shape)
        with torch.no_grad():
            param.copy_(values.reshape(param.shape).to(param.dtype))


@dataclass
class MemoryImage:
    chip: int
    regions: list[Region] = field(default_factory=list)

    def space(self, space: Space) -> list[Region]:
        return [r for r in self.regions if r.space == space]

    @property
    def nvm_bytes(self) -> int:
        return sum(r.nbytes for r in self.space(Space.NVM))

    @property
    def act_bytes(self) -> int:
        return sum(r.nbytes for r in self.space(Space.ACT))

    def _counts(self, space: Space, runs: dict, attr: str) -> torch.Tensor:
        regions = self.space(space)
        total = sum(r.nbytes for r in regions)
        out = torch.zeros(total, dtype=torch.float64)
        for r in regions:
            n = runs.get(None, 0) + (runs.get(r.branch, 0) if r.branch is not None else
                                     sum(v for k, v in runs.items() if k is not None))
            out[r.address:r.address + r.nbytes] = getattr(r, attr) * n
        return out

    def read_counts(self, space: Space, runs: dict) -> torch.Tensor:
        """Reads per byte address after ``runs`` ({route: inferences}; None = a model without a gate)."""
        return self._counts(space, runs, "reads_per_value")

    def write_counts(self, space: Space, runs: dict) -> torch.Tensor:
        """Writes per byte address after ``runs``."""
        return self._counts(space, runs, "writes_per_value")


def build_images(prof: Profile, root: nn.Module, fmt: FixedPoint | None, *,
                 per_tensor: bool = False) -> list[MemoryImage]:
    """Lay out every chip's weights (as codes) and activation buffers; ``root`` holds the programs' modules.
    ``per_tensor``: each tensor has its own fractional bits (``fmt`` gives the word length; ``fixed.grid_fl``)."""
    images = [MemoryImage(c) for c in range(prof.n_chips)]
    nvm_next = [0] * prof.n_chips
    act_next = [0] * prof.n_chips
    for w in prof.weights:
        p = getattr(root.get_submodule(w.module), w.param).detach()
        own = FixedPoint(fmt.wl, grid_fl(p, fmt.wl)) if fmt is not None and per_tensor else fmt
        if own is not None and not p.is_floating_point():
            own = FixedPoint(fmt.wl, 0)        # stored integers (position ids, say): codes with no fraction
        codes = _codes(p, own, w.label)
        r = Region(w.label, Space.NVM, nvm_next[w.chip], p.numel(), prof.weight_bytes, w.reads_per_value, 0.0, w.branch,
                   RegionKind.WEIGHT, codes, own, tuple(p.shape), w.module, w.param)
        nvm_next[w.chip] += r.nbytes
        images[w.chip].regions.append(r)
    for s in prof.stores:
        act_next[s.chip] += act_next[s.chip] % 2          # every buffer starts on a 16-bit word
        r = Region(s.name, Space.ACT, act_next[s.chip], s.numel, s.bytes_per_value, 0.0, s.writes_per_value, s.branch,
                   RegionKind(s.kind.value))
        act_next[s.chip] += r.nbytes
        images[s.chip].regions.append(r)
    return images


def _codes(p: torch.Tensor, fmt: FixedPoint | None, label: str) -> torch.Tensor | None:
    if fmt is None:             # a float model: the programs' tensor is the stored value (no second copy)
        return None
    scaled = p.double().flatten() * 2.0 ** fmt.fl
    codes = torch.round(scaled)
    lo, hi = -(2 ** (fmt.wl - 1)), 2 ** (fmt.wl - 1) - 1
    if not torch.equal(codes, scaled) or (codes.numel() and (codes.min() < lo or codes.max() > hi)):
        raise ImageError(f"weight {label} is not a FixedPoint({fmt.wl},{fmt.fl}) value; round the model's "
                         f"weights first (illusion_torch.fixed.layers.quantize_weights) or train it with its recipe")
    return codes.long()


def load_weights(images: list[MemoryImage], root: nn.Module) -> None:
    """Set every program weight from its chip's memory image (what the chip reads is what it computes with)."""
    for img in images:
        for r in img.space(Space.NVM):
            if r.codes is not None:
                r.load_into(getattr(root.get_submodule(r.module), r.param))
