"""Pretrained I3D (Kinetics-400) and VGG16 (ImageNet) networks for evaluation.

Both networks are rebuilt as Keras 3 models and loaded offline, with
checksummed default weights from installed packages or weights from a path:
`i3d` (the FVD embedding), `vgg16` (the VGG cosine similarity features) and
`weights` (finding, verifying and assigning weight files). This package
re-exports what evaluation code needs to build the networks; everything else
is imported from its module.
"""

from video_structure.pretrained.i3d import I3D_MIN_FRAMES, build_i3d
from video_structure.pretrained.vgg16 import VGG16_FEATURE_LAYERS, build_vgg16_features

__all__ = ["I3D_MIN_FRAMES", "VGG16_FEATURE_LAYERS", "build_i3d", "build_vgg16_features"]
