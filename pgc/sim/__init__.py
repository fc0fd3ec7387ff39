"""Cost model, discrete-event simulator and lower bounds of a plan.

`simulate(program) -> SimResult` runs the per-worker action lists; `lower_bound(program) ->
Bound` bounds the iteration time for the program's placement and paths.
"""

from pgc.sim.bound import Bound, lower_bound
from pgc.sim.cost import CostTable, cost_table
from pgc.sim.engine import Record, SimResult, SimulationStuck, simulate

__all__ = [
    "Bound",
    "CostTable",
    "Record",
    "SimResult",
    "SimulationStuck",
    "cost_table",
    "lower_bound",
    "simulate",
]
