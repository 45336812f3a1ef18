"""The training stage: a training snapshot of the catalog -> a recipe's model trained -> checkpoint rows.

`data/` builds the snapshot and the dataset, `recipes/` the four methods (ReVision, VideoJAM, DiffPhy, WISA),
`loop/` the optimisation loop and checkpoints.
"""
