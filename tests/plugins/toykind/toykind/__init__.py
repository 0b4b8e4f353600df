"""A toy hybridlab layer kind: `toy`, a per-channel exponential moving average (letter `T`).

`toykind.config` is torch-free (what hybridlab's spec language and cost model load);
`toykind.layer` is the module, imported by `hybridlab.layers` only.
"""
