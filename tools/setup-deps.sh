#!/usr/bin/env bash
# Installs every build and test dependency of bale from Debian's packages.
# Does nothing when they are all present. Runs apt-get as root, or through sudo.
set -euo pipefail

PKGS=(build-essential cmake pkg-config git python3
      libzstd-dev zstd libxxhash-dev libjansson-dev libcmocka-dev
      libpcre2-dev libutf8proc-dev libomp-dev
      clang libclang-rt-14-dev)

missing=()
for p in "${PKGS[@]}"; do
	if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
		missing+=("$p")
	fi
done

if [ ${#missing[@]} -eq 0 ]; then
	echo "setup-deps: all dependencies present" >&2
	exit 0
fi

echo "setup-deps: installing: ${missing[*]}" >&2
SUDO=""
if [ "$(id -u)" -ne 0 ]; then
	if command -v sudo >/dev/null 2>&1; then
		SUDO="sudo"
	else
		echo "setup-deps: need root (or sudo) to install: ${missing[*]}" >&2
		exit 1
	fi
fi
export DEBIAN_FRONTEND=noninteractive
if ! $SUDO apt-get update -qq; then
	echo "setup-deps: 'apt-get update' failed; check the network/apt sources" >&2
	exit 1
fi
if ! $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2; then
	echo "setup-deps: 'apt-get install ${missing[*]}' failed" >&2
	exit 1
fi
if [ ! -x /usr/local/cuda/bin/nvcc ] && ! command -v nvcc >/dev/null 2>&1; then
	echo "setup-deps: note: no CUDA toolkit found; bale builds CPU-only (install the CUDA Toolkit for GPU support)" >&2
fi
echo "setup-deps: done" >&2
