#!/usr/bin/env bash
# Installs every build and test dependency of bale: Debian packages with apt-get, and the two Python
# packages the tools use (numpy, safetensors) with pip.
# Does nothing when they are all present. Runs apt-get as root, or through sudo.
set -euo pipefail

PKGS=(build-essential cmake pkg-config git python3 python3-pip
      libzstd-dev zstd libxxhash-dev libjansson-dev libcmocka-dev
      libpcre2-dev libutf8proc-dev libomp-dev
      clang libclang-rt-14-dev)

install_python() {
	[ ${#py_missing[@]} -eq 0 ] && return 0
	echo "setup-deps: installing Python packages: ${py_missing[*]}" >&2
	# Debian's own python3 refuses plain pip installs (PEP 668); these two packages are harmless there.
	if ! python3 -m pip install --quiet --disable-pip-version-check "${py_missing[@]}" >&2 &&
		! python3 -m pip install --quiet --disable-pip-version-check --break-system-packages "${py_missing[@]}" >&2; then
		echo "setup-deps: 'pip install ${py_missing[*]}' failed (needs PyPI)" >&2
		exit 1
	fi
}

missing=()
for p in "${PKGS[@]}"; do
	if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
		missing+=("$p")
	fi
done

# Python packages used by the tools and their tests (tools/synth-checkpoint): from PyPI.
PY_PKGS=(numpy safetensors)
py_missing=()
for p in "${PY_PKGS[@]}"; do
	python3 -c "import $p" >/dev/null 2>&1 || py_missing+=("$p")
done

if [ ${#missing[@]} -eq 0 ] && [ ${#py_missing[@]} -eq 0 ]; then
	echo "setup-deps: all dependencies present" >&2
	exit 0
fi
if [ ${#missing[@]} -eq 0 ]; then
	install_python
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
install_python
echo "setup-deps: done" >&2
