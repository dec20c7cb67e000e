#!/usr/bin/env bash
# Install the Debian packages aecnn needs, only those missing. Usage: scripts/install-deps.sh [--with-data] [--with-slurm]
#   always:       libopenblas-dev libzstd-dev zlib1g-dev libturbojpeg0-dev libpng-dev libdnnl-dev pkg-config (to build and test)
#   --with-data:  dataset-fashion-mnist (the embedded default dataset, for the main job)
#   --with-slurm: slurmctld slurmd slurm-client munge (a single-node Slurm cluster for the submit test)
set -euo pipefail
packages=(libopenblas-dev libzstd-dev zlib1g-dev libturbojpeg0-dev libpng-dev libdnnl-dev pkg-config)
for flag in "$@"; do
  case "$flag" in
    --with-data) packages+=(dataset-fashion-mnist) ;;
    --with-slurm) packages+=(slurmctld slurmd slurm-client munge) ;;
    *) echo "install-deps.sh: unknown option $flag (known: --with-data, --with-slurm)" >&2; exit 2 ;;
  esac
done
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "installing: ${missing[*]}" >&2
  sudo=""; [[ $(id -u) -ne 0 ]] && sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >/dev/null
fi
