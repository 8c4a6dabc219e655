"""A mixed-integer linear program written row by row, solved by HiGHS (``scipy.optimize.milp``).

Usage::

    from illusion_torch.partitioning.milp import Program
    prog = Program()
    x = prog.var(cost=1.0)                 # binary by default
    y = prog.var(0, 10, integer=False)     # continuous in [0, 10]
    prog.row({x: 1.0, y: -1.0}, hi=0)      # x − y ≤ 0
    result = prog.solve(time_limit_s=5)    # scipy's OptimizeResult (x, status, mip_dual_bound, mip_gap)
"""

from __future__ import annotations

import numpy as np
from scipy.optimize import Bounds, LinearConstraint, milp
from scipy.sparse import coo_matrix

__all__ = ["Program"]


class Program:
    """Variables and sparse rows for milp."""

    def __init__(self) -> None:
        self.lb: list[float] = []
        self.ub: list[float] = []
        self.integer: list[int] = []
        self.cost: list[float] = []
        self.rows: list[tuple[dict[int, float], float, float]] = []

    def var(self, lb: float = 0.0, ub: float = 1.0, integer: bool = True, cost: float = 0.0) -> int:
        self.lb.append(lb)
        self.ub.append(ub)
        self.integer.append(1 if integer else 0)
        self.cost.append(cost)
        return len(self.lb) - 1

    def row(self, coeffs: dict[int, float], lo: float = -np.inf, hi: float = np.inf) -> None:
        self.rows.append((coeffs, lo, hi))

    def solve(self, time_limit_s: float):
        r, c, v, lo, hi = [], [], [], [], []
        for i, (coeffs, a, b) in enumerate(self.rows):
            for j, x in coeffs.items():
                r.append(i)
                c.append(j)
                v.append(x)
            lo.append(a)
            hi.append(b)
        A = coo_matrix((v, (r, c)), shape=(len(self.rows), len(self.lb))).tocsr()
        return milp(np.asarray(self.cost), integrality=np.asarray(self.integer),
                    bounds=Bounds(np.asarray(self.lb), np.asarray(self.ub)),
                    constraints=LinearConstraint(A, np.asarray(lo), np.asarray(hi)),
                    options={"time_limit": time_limit_s, "disp": False, "mip_rel_gap": 0.0})
