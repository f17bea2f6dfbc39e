#!/usr/bin/env bash
# Headless MuJoCo rendering needs an EGL (or OSMesa) library from the system; install it when missing.
set -euo pipefail
if ldconfig -p | grep -q 'libEGL.so.1' && ldconfig -p | grep -q 'libEGL_mesa.so.0'; then exit 0; fi
if ldconfig -p | grep -q 'libOSMesa.so'; then exit 0; fi
if [ "$(id -u)" != 0 ]; then
  echo "Headless rendering needs EGL: run 'sudo apt-get install -y libegl1 libegl-mesa0 libgl1-mesa-dri' once." >&2
  exit 1
fi
echo "Installing EGL libraries for headless rendering (apt)..."
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq libegl1 libegl-mesa0 libgl1-mesa-dri libgles2 >/dev/null
