"""The deterministic simulator: the real engine core over a simulated log, faults from a seed.

`world.py` is the simulated world (log, two instances, clock, bettors, operators, faults),
`model.py` the independent reference model that checks every committed batch, `cli.py` the
`python -m betting sim` command. Everything random comes from one `random.Random(seed)`, so a
failing seed replays bit for bit.
"""
