"""The ``repoagent bench`` measurements: localization, edits, speed, and the learned ranker's data and training."""
