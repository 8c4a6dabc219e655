"""torch.nn's LSTM and GRU as layers a chip can hold a slice of: one ``Recurrent`` per layer and direction.

Usage::

    from illusion_torch.partitioning.recurrent import RecurrentStack
    stack = RecurrentStack(nn.LSTM(8, 16, num_layers=2, bidirectional=True))   # same tensors, no copy
    out, (h_n, c_n) = stack(x)          # as nn.LSTM in eval (c_n: see ``RecurrentStack``)

``Recurrent`` is one layer in one direction over a whole sequence — (batch, time, input) → (batch, time,
hidden) — and the unit a chip stores: it splits by hidden units like the paper's KWS LSTM (``QLSTM``), each
chip holding its units' rows of every gate (``RecurrentSlice``) and gathering the whole h every step. Gates as
torch documents them (LSTM: i, f, g, o; GRU: r, z, n with r applied to the hidden part of n), with torch's
two biases, so the parameters are the model's own, shared.
"""

from __future__ import annotations

import torch
from torch import fx, nn

from ..errors import IllusionError
from .slices import frozen, gathered

__all__ = ["Recurrent", "RecurrentSlice", "RecurrentStack", "recurrent_step", "GATES"]

GATES = {"lstm": 4, "gru": 3}


def recurrent_step(kind: str, x_t: torch.Tensor, h: torch.Tensor, h_own: torch.Tensor, c_own: torch.Tensor | None,
                   w_ih: torch.Tensor, w_hh: torch.Tensor, b_ih: torch.Tensor | None,
                   b_hh: torch.Tensor | None,
                   w_hr: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor | None]:
    """One step for the hidden units whose gate rows ``w_ih``/``w_hh`` hold (all of them, or a chip's slice).

    ``h`` is the whole previous hidden state (every unit feeds every gate), ``h_own``/``c_own`` the previous
    state of these units. Returns their new (h, c); c is None for a GRU. An LSTM with a projection
    (``w_hr``: the projection's columns for these units) returns these units' share of the projected h — for
    all units that is h itself; a chip's slice gives partial sums that add up to it."""
    gi = x_t @ w_ih.t() + (b_ih if b_ih is not None else 0.0)
    gh = h @ w_hh.t() + (b_hh if b_hh is not None else 0.0)
    if kind == "lstm":
        i, f, g, o = (gi + gh).chunk(4, dim=-1)
        assert c_own is not None
        c = torch.sigmoid(f) * c_own + torch.sigmoid(i) * torch.tanh(g)
        m = torch.sigmoid(o) * torch.tanh(c)
        return (m if w_hr is None else m @ w_hr.t()), c
    ir, iz, in_ = gi.chunk(3, dim=-1)
    hr, hz, hn = gh.chunk(3, dim=-1)
    r, z = torch.sigmoid(ir + hr), torch.sigmoid(iz + hz)
    n = torch.tanh(in_ + r * hn)
    return (1 - z) * n + z * h_own, None


class Recurrent(nn.Module):
    """One LSTM or GRU layer in one direction: (batch, time, input) → every step's h, (batch, time, hidden)."""

    def __init__(self, kind: str, weight_ih: torch.Tensor, weight_hh: torch.Tensor, bias_ih: torch.Tensor | None,
                 bias_hh: torch.Tensor | None, weight_hr: torch.Tensor | None = None) -> None:
        super().__init__()
        if kind not in GATES:
            raise IllusionError(f"recurrent kind must be one of {sorted(GATES)}, got {kind!r}")
        if weight_hr is not None and kind != "lstm":
            raise IllusionError("only an LSTM has a projection (proj_size)")
        self.kind = kind
        self.weight_ih, self.weight_hh = weight_ih, weight_hh
        self.bias_ih, self.bias_hh = bias_ih, bias_hh
        self.weight_hr = weight_hr
        self.hidden_size = weight_ih.shape[0] // GATES[kind]          # cells: the units a chip holds a slice of
        self.input_size = weight_ih.shape[1]
        self.proj_size = 0 if weight_hr is None else weight_hr.shape[0]
        self.output_size = self.proj_size or self.hidden_size          # the h every step feeds back

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = x.new_zeros(x.shape[0], self.output_size)
        c = x.new_zeros(x.shape[0], self.hidden_size) if self.kind == "lstm" else None
        out = []
        for t in range(x.shape[1]):
            h, c = recurrent_step(self.kind, x[:, t], h, h, c, self.weight_ih, self.weight_hh, self.bias_ih,
                                  self.bias_hh, self.weight_hr)
            out.append(h)
        return torch.stack(out, dim=1)


class RecurrentSlice(nn.Module):
    """A chip's hidden units [start, stop) of a ``Recurrent``: the rows of every gate for them (and, with a
    projection, its columns for them); one step per call, given the whole previous h; returns the units' new
    (h, c) — for a GRU, which has no c, (h, h); with a projection, (their partial sums of h, c)."""

    def __init__(self, layer: Recurrent, start: int, stop: int) -> None:
        super().__init__()
        H, self.kind = layer.hidden_size, layer.kind
        rows = torch.cat([torch.arange(start, stop) + k * H for k in range(GATES[layer.kind])])
        self.start, self.stop = start, stop
        self.weight_ih, self.weight_hh = gathered(layer.weight_ih, rows), gathered(layer.weight_hh, rows)
        self.bias_ih = None if layer.bias_ih is None else gathered(layer.bias_ih, rows)
        self.bias_hh = None if layer.bias_hh is None else gathered(layer.bias_hh, rows)
        self.weight_hr = None if layer.weight_hr is None else frozen(layer.weight_hr[:, start:stop])

    def forward(self, x_t: torch.Tensor, h: torch.Tensor, c: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h_own = h[:, self.start:self.stop]
        h_new, c_new = recurrent_step(self.kind, x_t, h, h_own, c, self.weight_ih, self.weight_hh, self.bias_ih,
                                      self.bias_hh, self.weight_hr)
        return h_new, (c_new if c_new is not None else h_new)


@fx.wrap
def cell_state_unavailable(h_n: torch.Tensor) -> torch.Tensor:
    """Stands for an LSTM's final c, which the decomposed stack does not carry out of its layers."""
    raise IllusionError("the model reads nn.LSTM's final cell state c_n, which a partitioned LSTM does not "
                        "return yet; use the output sequence or h_n")


class RecurrentStack(nn.Module):
    """``nn.LSTM`` / ``nn.GRU`` in eval as a stack of ``Recurrent`` layers (directions concatenated).

    Returns what torch returns; an LSTM's ``c_n`` is not available (reading it is a clear error; a model that
    ignores it traces without it). An LSTM's ``proj_size`` is kept (each layer's projection split with its
    cells). Initial states other than zero are not supported."""

    def __init__(self, rnn: nn.LSTM | nn.GRU) -> None:
        super().__init__()
        self.kind = "lstm" if isinstance(rnn, nn.LSTM) else "gru"
        self.batch_first, self.layers_n = rnn.batch_first, rnn.num_layers
        self.directions = 2 if rnn.bidirectional else 1
        cells = []
        for k in range(rnn.num_layers):
            for suffix in ("", "_reverse")[:self.directions]:
                w_ih, w_hh = getattr(rnn, f"weight_ih_l{k}{suffix}"), getattr(rnn, f"weight_hh_l{k}{suffix}")
                b_ih, b_hh = (getattr(rnn, f"{b}_l{k}{suffix}", None) for b in ("bias_ih", "bias_hh"))
                w_hr = getattr(rnn, f"weight_hr_l{k}{suffix}", None) if getattr(rnn, "proj_size", 0) else None
                cells.append(Recurrent(self.kind, w_ih, w_hh, b_ih, b_hh, w_hr))
        self.cells = nn.ModuleList(cells)

    @classmethod
    def of(cls, rnn: nn.Module) -> RecurrentStack:
        assert isinstance(rnn, (nn.LSTM, nn.GRU))
        return cls(rnn)

    def forward(self, x: torch.Tensor, hx: torch.Tensor | None = None):
        if hx is not None:
            raise IllusionError(f"a partitioned nn.{self.kind.upper()} starts from zero state; the model passes "
                                f"an initial state (hx)")
        if not self.batch_first:
            x = x.transpose(0, 1)
        finals = []
        for k in range(self.layers_n):
            outs = []
            for d in range(self.directions):
                cell = self.cells[k * self.directions + d]
                seq = cell(x) if d == 0 else cell(x.flip(1)).flip(1)
                outs.append(seq)
                finals.append(seq[:, -1] if d == 0 else seq[:, 0])
            x = outs[0] if self.directions == 1 else torch.cat(outs, dim=-1)
        out = x if self.batch_first else x.transpose(0, 1)
        h_n = torch.stack(finals, dim=0)
        if self.kind == "gru":
            return out, h_n
        return out, (h_n, cell_state_unavailable(h_n))
