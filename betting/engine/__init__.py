"""The engine's deterministic core (`core.py`): records and a clock reading in, outputs out.

The async shell that feeds it from the log is `betting.tasks.engine`; the simulator
(`betting.sim`) runs the same core over a simulated log.
"""
