"""Struct-VRNN: unsupervised keypoints and their dynamics from videos.

This package's __init__ deliberately imports nothing heavy: dm-control
rendering workers import `video_structure.data` modules and must never load
TensorFlow (TensorFlow and a MuJoCo GL context in one process segfault).
"""

__version__ = "0.1.0"
