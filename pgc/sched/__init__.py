"""Scheduling: per-worker operation order (`order`), the library behind the `ordered` pass that
the planner's searches and judges call too. Sits between the planner and the simulator: it
prices its list schedule with `pgc.sim.cost`.
"""
