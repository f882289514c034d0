#!/usr/bin/env bash
# Makes tfm's WebGPU target runnable on a machine with no GPU (the WebGPU tests, and
# `--target webgpu` in Node): installs Mesa's lavapipe, a Vulkan driver that runs on the CPU,
# which Dawn (the npm package `webgpu`) then offers as an adapter ("llvmpipe"). Debian 12's
# own Mesa 22.3 is too old for Dawn, so it comes from bookworm-backports (Mesa 25), whose
# apt source is derived from the machine's own Debian source entry. Idempotent; needs root.
# On a machine with a GPU and its Vulkan driver there is nothing to install.
# lavapipe is for correctness, not speed: it is a CPU in disguise.
# It also installs Debian's chromium, in which the browser test runs the demo page of
# `tfm serve` (headless, WebGPU on its built-in SwiftShader).
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive
if ! command -v chromium >/dev/null 2>&1; then
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends chromium >/dev/null
  echo "chromium installed: $(dpkg-query -W -f='${Version}' chromium)"
fi
if ls /usr/share/vulkan/icd.d/lvp_icd*.json >/dev/null 2>&1 && dpkg-query -W -f='${Version}' mesa-vulkan-drivers 2>/dev/null | grep -qv '^22\.'; then
  echo "lavapipe already installed: $(dpkg-query -W -f='${Version}' mesa-vulkan-drivers)"; exit 0
fi
src=/etc/apt/sources.list.d/debian.sources
dst=/etc/apt/sources.list.d/backports.sources
if [ ! -f "$dst" ]; then
  [ -f "$src" ] || { echo "setup-webgpu: no Debian source entry at $src to derive bookworm-backports from" >&2; exit 1; }
  # first stanza of the Debian source, with its suite switched to bookworm-backports
  awk 'BEGIN{RS="";ORS="\n\n"} NR==1' "$src" | sed -e 's/^Suites:.*/Suites: bookworm-backports/' -e '/^#/d' > "$dst"
fi
apt-get update -qq
apt-get install -y -qq --no-install-recommends -t bookworm-backports mesa-vulkan-drivers libvulkan1 >/dev/null
echo "lavapipe installed: $(dpkg-query -W -f='${Version}' mesa-vulkan-drivers)"
