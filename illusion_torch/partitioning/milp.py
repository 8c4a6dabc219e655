"""A mixed-integer linear program written row by row, solved by HiGHS through ``highspy``.

Usage::

    from illusion_torch.partitioning.milp import Program
    prog = Program()
    x = prog.var(cost=1.0)                 # binary by default
    y = prog.var(0, 10, integer=False)     # continuous in [0, 10]
    prog.row({x: 1.0, y: -1.0}, hi=0)      # x − y ≤ 0
    result = prog.solve(time_limit_s=5, start={x: 1.0})   # a (partial) starting point HiGHS completes
    result.x, result.optimal, result.gap, result.dual_bound

A starting point (the values of some variables, e.g. a greedy mapping's placement) is handed to HiGHS with
``setSolution``; HiGHS completes it and keeps it as its incumbent, so the search returns a solution at
least that good however soon the time limit stops it.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:                       # loaded when a program is solved: importing the package stays light
    import highspy

__all__ = ["Program", "Result"]


@dataclass
class Result:
    x: np.ndarray | None            # the best solution found (None: none)
    optimal: bool                   # proven optimal (within the relative gap of 0)
    infeasible: bool                # proven to have no solution
    gap: float                      # relative gap of the best solution to the bound
    dual_bound: float | None        # the proven lower bound on the objective
    objective: float | None
    message: str


def _quiet_highs() -> highspy.Highs:
    """A HiGHS instance that writes nothing: its constructor prints a banner on the process's stdout (file
    descriptor 1, below Python's sys.stdout), which would corrupt ``--json -`` output."""
    import highspy

    sys.stdout.flush()
    saved = os.dup(1)
    try:
        with open(os.devnull, "w") as null:
            os.dup2(null.fileno(), 1)
            h = highspy.Highs()
    finally:
        os.dup2(saved, 1)
        os.close(saved)
    h.setOptionValue("output_flag", False)
    return h


class Program:
    """Variables and sparse rows for HiGHS."""

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

    def _model(self) -> highspy.HighsLp:
        import highspy
        from scipy.sparse import coo_matrix

        r, c, v = [], [], []
        for i, (coeffs, _, _) in enumerate(self.rows):
            for j, x in coeffs.items():
                r.append(i)
                c.append(j)
                v.append(x)
        A = coo_matrix((v, (r, c)), shape=(len(self.rows), len(self.lb))).tocsc()
        lp = highspy.HighsLp()
        lp.num_col_, lp.num_row_ = len(self.lb), len(self.rows)
        lp.col_cost_ = np.asarray(self.cost, dtype=np.float64)
        lp.col_lower_ = np.asarray(self.lb, dtype=np.float64)
        lp.col_upper_ = np.asarray(self.ub, dtype=np.float64)
        inf = highspy.kHighsInf
        lp.row_lower_ = np.asarray([max(lo, -inf) for _, lo, _ in self.rows], dtype=np.float64)
        lp.row_upper_ = np.asarray([min(hi, inf) for _, _, hi in self.rows], dtype=np.float64)
        lp.a_matrix_.format_ = highspy.MatrixFormat.kColwise
        lp.a_matrix_.start_ = A.indptr.astype(np.int32)
        lp.a_matrix_.index_ = A.indices.astype(np.int32)
        lp.a_matrix_.value_ = A.data.astype(np.float64)
        lp.integrality_ = [highspy.HighsVarType.kInteger if i else highspy.HighsVarType.kContinuous
                           for i in self.integer]
        return lp

    def solve(self, time_limit_s: float, start: dict[int, float] | None = None) -> Result:
        """Solve within ``time_limit_s``; ``start``: values of some variables, a solution to begin from."""
        import highspy

        h = _quiet_highs()
        h.setOptionValue("time_limit", float(time_limit_s))
        h.setOptionValue("mip_rel_gap", 0.0)
        h.setOptionValue("random_seed", 0)
        h.passModel(self._model())
        if start:
            index = np.fromiter(start.keys(), dtype=np.int32)
            h.setSolution(len(index), index, np.fromiter(start.values(), dtype=np.float64))
        h.run()
        status = h.getModelStatus()
        info = h.getInfo()
        has = info.primal_solution_status == 2         # a feasible solution exists
        x = np.asarray(h.getSolution().col_value) if has else None
        bound = info.mip_dual_bound if np.isfinite(info.mip_dual_bound) else None
        return Result(x, status == highspy.HighsModelStatus.kOptimal, status == highspy.HighsModelStatus.kInfeasible,
                      float(info.mip_gap) if has and np.isfinite(info.mip_gap) else float("inf"), bound,
                      float(info.objective_function_value) if has else None, h.modelStatusToString(status))
