"""Stuck bits in the chips' memories, applied where the chips read and write: weights and every activation write.

Usage::

    from illusion_torch.wear.faults import FaultyChips
    faulty = FaultyChips(runtime)                          # runtime = Runtime(system)
    faulty.set_masks(chip, and_mask, or_mask)              # per 16-bit word of the chip's memory (numpy int64)
    logits = faulty.run(x)                                 # chip by chip, with the stuck bits in effect
    faulty.clear()

A chip's memory is its weight image (words 0 … ``nvm_words``) followed by its activation buffers and inbox
(``Runtime.images``; each region starts on a word). Weights: the stored codes are ANDed/ORed with the masks
of their bytes (little-endian within a word) and loaded into the programs. Activations: after every node
that writes a buffer (a rounding point, a pooled value, an LSTM slice's h and c, a partial sum) and before
every use of a received message, a ``StuckBits`` node forces the same masks onto the value's code — on
every write, as the RRAM would. Values whose code has no fixed-point format (D2NN's boolean route flag)
are left as they are and listed in ``unmasked``.
"""

from __future__ import annotations

import copy
import operator

import numpy as np
import torch
from torch import fx, nn

from ..cost.profile import StoreKind
from ..errors import IllusionError
from ..fixed import FixedPoint, grid_fl
from ..partitioning.ops import StoredValue
from ..partitioning.slices import GroupSlice, LstmSlice
from ..partitioning.wakes import ChipPrograms, cut
from ..runtime import Runtime, Space, batches
from ..runtime.precision import exact_dtype, format_of
from ..units import ceil_div

__all__ = ["StuckBits", "FaultyChips"]


class StuckBits(StoredValue):
    """Force AND/OR masks onto the ``wl``-bit two's-complement codes (step 2^-fl) of a stored value."""

    def __init__(self, numel: int, wl: int, fl: int) -> None:
        super().__init__()
        self.wl, self.fl = wl, fl
        self.register_buffer("and_mask", torch.full((numel,), (1 << wl) - 1, dtype=torch.int64))
        self.register_buffer("or_mask", torch.zeros(numel, dtype=torch.int64))
        self.hit = torch.zeros(0, dtype=torch.int64)      # the values whose masks force a bit
        self.active = False

    @property
    def keeps_format(self) -> bool:
        """For the exact-float32 proof: a rounded value (≤ 16 bits) stays within its format's range; a stuck
        high bit of an int32 partial sum can outgrow the proven bound."""
        return not self.active or self.wl <= 16

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.active:
            return x
        # every write is encoded in its wl-bit word: a value the word cannot hold wraps (two's complement), and
        # the stuck bits are forced; values in range without a stuck bit come back unchanged, so only the
        # values with a stuck bit and those out of range are re-encoded
        out = x.flatten(1).clone()
        step = 2.0 ** -self.fl
        wide = (out < -(2.0 ** (self.wl - 1)) * step) | (out > (2.0 ** (self.wl - 1) - 1) * step)
        if bool(wide.any()):
            rows, cols = wide.nonzero(as_tuple=True)
            out[rows, cols] = self._encode(out[rows, cols], cols)
        out[:, self.hit] = self._encode(out[:, self.hit], self.hit)
        return out.reshape(x.shape)

    def _encode(self, values: torch.Tensor, cols: torch.Tensor) -> torch.Tensor:
        codes = torch.round(values * 2.0 ** self.fl).to(torch.int64) & ((1 << self.wl) - 1)
        codes = (codes & self.and_mask[cols]) | self.or_mask[cols]
        codes = torch.where(codes >= 1 << (self.wl - 1), codes - (1 << self.wl), codes)
        return codes.to(values.dtype) * 2.0 ** -self.fl


def _values(bytes_and, bytes_or, bpv: int) -> tuple[np.ndarray, np.ndarray]:
    """Combine per-byte masks into per-value masks of ``bpv`` bytes (little-endian)."""
    n = len(bytes_and) // bpv
    a = np.zeros(n, dtype=np.int64)
    o = np.zeros(n, dtype=np.int64)
    for k in range(bpv):
        a |= bytes_and[k::bpv][:n].astype(np.int64) << (8 * k)
        o |= bytes_or[k::bpv][:n].astype(np.int64) << (8 * k)
    return a, o


class FaultyChips:
    """The runtime's chip programs with a StuckBits node at every activation write and received message."""

    def __init__(self, runtime: Runtime, layout: dict[int, dict[str, int]] | None = None, *,
                 mask_weights: bool = True) -> None:
        if runtime.weight_format is None:
            raise IllusionError("stuck bits act on fixed-point codes: wear needs a fixed-point model (a "
                                "WorkloadConfig with a weight_format), not a float one")
        self.runtime = runtime
        src = runtime.programs
        self.gm: fx.GraphModule = copy.deepcopy(src.expanded)
        self.chip_of = dict(src.chip_of)
        self.images = runtime.images
        self.fmt: FixedPoint = runtime.weight_format
        self.unmasked: list[str] = []
        # module, chip, buffer (region name), byte offset in it, bytes per value
        self.points: list[tuple[StuckBits, int, str, int, int]] = []
        # where each buffer sits in its chip's memory (byte address); a buffer not listed is in SRAM (no stuck
        # bits). Default: every activation buffer in NVM, after the weights.
        self.layout: dict[int, dict[str, int]] = layout if layout is not None else {
            img.chip: {r.name: 2 * ceil_div(img.nvm_bytes, 2) + r.address for r in img.space(Space.ACT)}
            for img in runtime.images}
        self.insert_points()
        self.programs: ChipPrograms = cut(self.gm, self.chip_of, gated=src.gated)
        self.masks: dict[int, tuple[np.ndarray, np.ndarray]] = {}
        self.mask_weights = mask_weights        # False: stuck bits in the activations only
        self.apply()

    # -- building ------------------------------------------------------------------------------------
    def _format(self, node: fx.Node, modules: dict, bpv: int) -> FixedPoint | None:
        meta = node.meta.get("tensor_meta")
        dtype = getattr(meta, "dtype", None)
        if dtype is not None and not dtype.is_floating_point:
            return None if dtype == torch.bool else FixedPoint(8 * bpv, 0)
        f = format_of(node, modules, {})
        if f is not None:
            return FixedPoint(8 * bpv, f.fl)
        lsb = self._raw_fl(node, modules)
        if lsb is None or lsb >= 8 * bpv:       # no known grid, or one finer than the word: not masked (listed
            return None                         # in ``unmasked``)
        return FixedPoint(8 * bpv, lsb)

    def _raw_fl(self, node: fx.Node, modules: dict) -> int | None:
        """Fractional bits of a raw (unrounded) sum: the layer's weight fl + its input's fl."""
        seen = 0
        while isinstance(node, fx.Node) and seen < 64:
            seen += 1
            m = modules.get(str(node.target)) if node.op == "call_module" else None
            if isinstance(m, (nn.Conv2d, nn.Linear, GroupSlice)):
                f = format_of(node.args[0], modules, {})
                if f is None:
                    return None
                if not self.runtime.per_tensor:
                    return self.fmt.fl + f.fl
                bias = getattr(m, "bias", None)     # a bias on a finer grid than the products sets the step
                return max(grid_fl(m.weight, self.fmt.wl) + f.fl,
                           grid_fl(bias, self.fmt.wl) if isinstance(bias, torch.Tensor) else 0)
            ins = node.all_input_nodes
            if not ins:
                return None
            node = ins[-1]
        return None

    def insert_points(self) -> None:
        """A StuckBits node at every activation write and received message. The extension point: a scenario
        with sites of its own (``paper.endurance_run.PaperFaults``) calls this, then ``call_after``."""
        g = self.gm.graph
        modules = dict(self.gm.named_modules())
        by_name = {n.name: n for n in g.nodes}
        holder = nn.Module()
        self.gm.add_submodule("faults", holder)
        count = 0

        def point(chip: int, node: fx.Node, store, offset_values: int, numel: int, after: fx.Node) -> fx.Node | None:
            nonlocal count
            f = self._format(node, modules, store.bytes_per_value)
            if f is None:
                self.unmasked.append(node.name)
                return None
            count += 1
            mod = StuckBits(numel, f.wl, f.fl)
            modules[f"faults.s{count}"] = mod
            self.points.append((mod, chip, store.name, offset_values * store.bytes_per_value, store.bytes_per_value))
            return self.call_after(after, f"s{count}", mod, (node,), like=node, chip=chip)

        in_images = {id(s) for s in self.runtime.profile.stores
                     if any(r.name == s.name for r in self.images[s.chip].space(Space.ACT))}
        position = {n: i for i, n in enumerate(g.nodes)}
        current: dict[str, fx.Node] = {}
        for s in self.runtime.profile.stores:
            if s.kind is not StoreKind.ACTIVATION or id(s) not in in_images:
                continue
            for name in s.nodes:
                node = by_name[name]
                m = modules.get(str(node.target)) if node.op == "call_module" else None
                if isinstance(m, LstmSlice):                      # a tuple (h, c): mask each where it is read
                    units = s.numel // 2
                    for u in list(node.users):
                        if u.target is operator.getitem:
                            k = u.args[1]
                            new = point(s.chip, u, s, k * units, units, u)
                            if new is not None:
                                u.replace_all_uses_with(new, delete_user_cb=lambda user, new=new: user is not new)
                    continue
                new = point(s.chip, node, s, 0, s.numel, node)
                if new is not None:
                    node.replace_all_uses_with(new, delete_user_cb=lambda user, new=new: user is not new)
                    current[name] = new
        for s in self.runtime.profile.stores:
            if s.kind is not StoreKind.INBOX or id(s) not in in_images:
                continue
            for name in s.nodes:
                src = current.get(name, by_name[name])
                users = [u for u in src.users if self.chip_of.get(u.name) == s.chip]
                if not users:
                    continue
                first = min(users, key=lambda u: position.get(u, len(position)))
                new = point(s.chip, src, s, 0, s.numel, first.prev)      # on arrival, before its first use
                if new is None:
                    continue
                for u in users:
                    u.replace_input_with(src, new)
        g.lint()
        self.gm.recompile()

    def call_after(self, after: fx.Node, name: str, mod: nn.Module, args: tuple, like: fx.Node,
                    chip: int | None = None) -> fx.Node:
        """Register ``mod`` as ``faults.<name>`` and call it on ``args`` right after ``after``, on ``chip``
        (default: ``like``'s), with ``like``'s trace metadata; the caller rewires the users."""
        self.gm.get_submodule("faults").add_module(name, mod)
        with self.gm.graph.inserting_after(after):
            new = self.gm.graph.call_module(f"faults.{name}", args)
        self.chip_of[new.name] = self.chip_of[like.name] if chip is None else chip
        new.meta.update({k: like.meta[k] for k in ("orig", "tensor_meta") if k in like.meta})
        return new

    # -- masks -----------------------------------------------------------------------------------------
    def set_masks(self, chip: int, and_words: np.ndarray, or_words: np.ndarray) -> None:
        """Stuck bits of ``chip``'s memory, per word in its logical layout (weights first, then activations)."""
        self.masks[chip] = (np.asarray(and_words, dtype=np.int64), np.asarray(or_words, dtype=np.int64))
        self.apply()

    def set_all_masks(self, masks: dict[int, tuple[np.ndarray, np.ndarray]]) -> None:
        """Stuck bits of every chip at once (chip -> AND and OR words), applied once."""
        self.masks = {c: (np.asarray(a, dtype=np.int64), np.asarray(o, dtype=np.int64)) for c, (a, o) in masks.items()}
        self.apply()

    def clear(self) -> None:
        self.masks = {}
        self.apply()

    def nvm_words(self, chip: int) -> int:
        return ceil_div(self.images[chip].nvm_bytes, 2)

    def apply(self) -> None:
        """Load the (masked) weights into the programs and set every StuckBits node from ``masks``."""
        root = self.gm
        with torch.no_grad():
            for img in self.images:
                masks = self.masks.get(img.chip) if self.mask_weights else None
                for r in img.space(Space.NVM):
                    p = getattr(root.get_submodule(r.module), r.param)
                    codes = r.codes.numpy()
                    if masks is not None:
                        ba, bo = _byte_range(masks, r.address, r.nbytes)
                        va, vo = _values(ba, bo, r.bytes_per_value)
                        bits = 8 * r.bytes_per_value
                        u = (codes & ((1 << bits) - 1) & va) | vo
                        codes = np.where(u >= 1 << (bits - 1), u - (1 << bits), u)
                    r.load_into(p, torch.from_numpy(np.asarray(codes, dtype=np.int64)))
        for mod, chip, region, offset, bpv in self.points:
            masks = self.masks.get(chip)
            address = self.layout.get(chip, {}).get(region)
            if masks is None or address is None:
                mod.active = False
                continue
            start = address + offset
            ba, bo = _byte_range(masks, start, mod.and_mask.numel() * bpv)
            va, vo = _values(ba, bo, bpv)
            mod.and_mask.copy_(torch.from_numpy(va))
            mod.or_mask.copy_(torch.from_numpy(vo))
            hit = np.flatnonzero((va != (1 << mod.wl) - 1) | (vo != 0))
            mod.hit = torch.from_numpy(hit)
            mod.active = len(hit) > 0
        self.dtype, _ = exact_dtype(self.programs, self.fmt, per_tensor=self.runtime.per_tensor)

    @torch.no_grad()
    def run(self, x: torch.Tensor, batch_size: int | None = None) -> torch.Tensor:
        batch_size = self.runtime.batch_size if batch_size is None else batch_size
        outs = []
        for i in batches(len(x), batch_size):
            outs.append(self.programs.forward(x[i:i + batch_size], dtype=self.dtype)[0].double())
        return torch.cat(outs)


def _byte_range(masks: tuple[np.ndarray, np.ndarray], first_byte: int, nbytes: int):
    and_words, or_words = masks
    b = first_byte + np.arange(nbytes)
    w = b // 2
    shift = 8 * (b % 2)
    return (and_words[w] >> shift) & 0xFF, (or_words[w] >> shift) & 0xFF

