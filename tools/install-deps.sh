#!/usr/bin/env bash
# Installs every Debian package wsc needs to build, test and cross-check.
# Idempotent: skips apt when everything is already installed.
set -euo pipefail

PACKAGES=(
  build-essential cmake git pkg-config
  libopenmpi-dev openmpi-bin            # MPI
  libhdf5-openmpi-dev hdf5-tools        # parallel HDF5 (+ h5dump for users)
  libmpich-dev mpich libhdf5-mpich-dev  # the second MPI the tests build against
  libeigen3-dev                         # linear algebra
  libboost-serialization-dev            # checkpoints
  libgtest-dev                          # unit tests
  libcli11-dev                          # command line
  libtoml11-dev                         # config files
  nlohmann-json3-dev                    # summary.json
  librandom123-dev                      # counter-based permutations
  libxxhash-dev                         # run fingerprint, checkpoint checksum (XXH3)
  python3 python3-numpy python3-h5py python3-sklearn   # reference checks in tests
  python3-setuptools python3-venv python3-torch         # the Python package's install test, examples/pytorch
  python3-matplotlib python3-pandas     # wsc report: figures and readers
  python3-xxhash                        # the fuzz harness rewrites checkpoint checksums (XXH3)
  chromium                              # the report tests load report.html in a headless browser
  slurm-wlm munge                       # the local SLURM cluster of cluster/
  lmod                                  # to test the installed module file
)

missing=()
for p in "${PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: all ${#PACKAGES[@]} packages present"
  exit 0
fi
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get -o DPkg::Lock::Timeout=600 update -qq
$SUDO apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends "${missing[@]}"
