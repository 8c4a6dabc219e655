"""Values on the wire: integer codes out, the same values back, every byte counted at the send.

Usage::

    link = Link(rank=1, dtype=torch.float64)
    link.send(value, to=2, tag=7, wire=Wire(fl=4, bits=8))           # int8 codes: 1 byte per element
    x = link.recv(frm=1, tag=7, wire=Wire(fl=4, bits=8), shape=(1, 6, 12, 12))
    link.chip_bytes, link.host_bytes                                  # counted at the sends

Point-to-point ``isend``/``recv`` of torch.distributed (gloo). A send is checked to be exact — the codes
times 2^-fl give back every value — so a wrong wire format is an error, never a silently different result.
A peer that dies or cannot be reached ends the wait with an error naming it.
"""

from __future__ import annotations

import time

import torch
import torch.distributed as dist

from ..errors import IllusionError
from .rank_map import Wire

__all__ = ["Link", "encode", "decode", "PeerLost"]


class PeerLost(IllusionError):
    """A rank this one exchanges values with died or cannot be reached."""


def encode(value: torch.Tensor, wire: Wire, name: str = "a value") -> torch.Tensor:
    """The tensor that travels for ``value``: its codes at ``wire`` (checked exact), or the value itself."""
    if wire.dtype is None or wire.fl is None:
        return value.to(torch.uint8) if value.dtype == torch.bool else value.contiguous()
    scaled = value.double() * 2.0 ** wire.fl
    codes = scaled.to(wire.dtype).contiguous()            # a slice of a wider tensor: one block on the wire
    if not torch.equal(codes.double(), scaled):
        raise IllusionError(f"{name} is not on {wire.bits}-bit codes with {wire.fl} fractional bits: the wire "
                            f"format from the partition does not hold it (a bug: please report it)")
    return codes


def decode(codes: torch.Tensor, wire: Wire, dtype: torch.dtype, like: torch.dtype | None = None) -> torch.Tensor:
    """The value back from its wire tensor (``like``: the dtype it had, for values sent as they are)."""
    if wire.dtype is None or wire.fl is None:
        return codes.to(like) if like is not None and codes.dtype != like else codes
    if like is not None and not like.is_floating_point and wire.fl == 0:
        return codes.to(like)                                 # integer codes of integers (token ids)
    return (codes.double() * 2.0 ** -wire.fl).to(dtype)      # exact: the value was one of ``dtype``'s


class Link:
    """This rank's end of every point-to-point exchange, with the bytes it sent (chips, host apart)."""

    def __init__(self, rank: int, dtype: torch.dtype) -> None:
        self.rank = rank
        self.dtype = dtype
        self.chip_bytes = 0             # between chip ranks
        self.host_bytes = 0             # to or from the host (rank 0)
        self.route_bytes = 0            # a gated model's route, sent on to the branches' ranks (control)
        self.header_bytes = 0           # shapes sent ahead of values whose shape depends on the input (control)
        self.pending: list[tuple[int, dist.Work, torch.Tensor]] = []    # (batch, work, buffer kept alive)
        self.events: list[tuple[str, int, int, float, float]] = []       # (kind, peer, bytes, start, end)

    def send(self, value: torch.Tensor, to: int, tag: int, wire: Wire, *, batch: int = 0, name: str = "",
             control: bool = False) -> None:
        data = encode(value, wire, name)
        nbytes = data.numel() * data.element_size()
        if control:
            self.route_bytes += nbytes
        elif self.rank == 0 or to == 0:
            self.host_bytes += nbytes
        else:
            self.chip_bytes += nbytes
        t = time.perf_counter()
        self._post(data, to, tag, batch, name or "a value")
        self.events.append(("send", to, nbytes, t, time.perf_counter()))

    def send_shape(self, value: torch.Tensor, to: int, tag: int, *, batch: int = 0, name: str = "") -> None:
        """The shape of ``value`` ahead of it (same tag: gloo keeps one pair's messages of a tag in order), for a
        value whose shape depends on the input (a split embedding's looked-up rows)."""
        header = torch.tensor(value.shape, dtype=torch.int64)
        self.header_bytes += header.numel() * header.element_size()
        self._post(header, to, tag, batch, f"the shape of {name or 'a value'}")

    def _post(self, data: torch.Tensor, to: int, tag: int, batch: int, what: str) -> None:
        """``isend`` of ``data``, kept alive until its batch settles; a peer that is gone is one error."""
        try:
            work = dist.isend(data, dst=to, tag=tag)
        except RuntimeError as e:
            raise PeerLost(f"rank {self.rank}: cannot send {what} to rank {to} ({_first_line(e)}); rank {to} has "
                           f"died or cannot be reached") from None
        if work is not None:
            self.pending.append((batch, work, data))

    def recv_shape(self, frm: int, tag: int, ndim: int, *, name: str = "") -> tuple[int, ...]:
        """The shape ``send_shape`` sent."""
        header = torch.empty(ndim, dtype=torch.int64)
        try:
            dist.recv(header, src=frm, tag=tag)
        except RuntimeError as e:
            raise PeerLost(f"rank {self.rank}: lost rank {frm} while waiting for the shape of {name or 'a value'} "
                           f"({_first_line(e)}); rank {frm} has died or cannot be reached") from None
        return tuple(int(d) for d in header)

    def recv(self, frm: int, tag: int, wire: Wire, shape: tuple[int, ...], like: torch.dtype, *,
             name: str = "") -> torch.Tensor:
        dtype = wire.dtype or (torch.uint8 if like == torch.bool else like)
        buf = torch.empty(shape, dtype=dtype)
        t = time.perf_counter()
        try:
            dist.recv(buf, src=frm, tag=tag)
        except RuntimeError as e:
            raise PeerLost(f"rank {self.rank}: lost rank {frm} while waiting for {name or 'a value'} "
                           f"({_first_line(e)}); rank {frm} has died or cannot be reached") from None
        self.events.append(("recv", frm, buf.numel() * buf.element_size(), t, time.perf_counter()))
        out = decode(buf, wire, self.dtype, like)
        return out.bool() if like == torch.bool else out

    def settle(self, before: int | None = None) -> None:
        """Wait for the sends of batches before ``before`` (all: None) to complete."""
        keep = []
        for batch, work, data in self.pending:
            if before is None or batch < before:
                try:
                    work.wait()
                except RuntimeError as e:
                    raise PeerLost(f"rank {self.rank}: a send did not complete ({_first_line(e)}); its receiver "
                                   f"has died or cannot be reached") from None
            else:
                keep.append((batch, work, data))
        self.pending = keep


def _first_line(e: BaseException) -> str:
    text = str(e).strip().splitlines()
    return text[0][:200] if text else type(e).__name__
