"""Datasets: generators and tf.data pipelines.

Every pipeline yields dicts of batched tensors:

* `frames`: float32 [batch, time, H, W, C] in [0, 1].
* `actions` (where known): float32 [batch, time, A]; `actions[:, t]` produced
  frame t (the paper's a_{t-1}, S1.1.2); zeros at an episode's first frame.
* `rewards` (where known): float32 [batch, time]; the reward of the
  transition into frame t.
* `positions` (where known): float32 [batch, time, N, 2] ground-truth object
  coordinates in the keypoint convention of `video_structure.keypoint_ops`.
* `domain`, `episode` (DMCS): int32 [batch], the index into the manifest's
  domains and the episode's index within its split, so that overlapping
  windows of one episode can be kept on one side of a train/test split.
* `label` (Human3.6M): int32 [batch], the class of the sequence (its action).

This __init__ imports nothing: dm-control rendering workers import modules of
this package and must never load TensorFlow.
"""
