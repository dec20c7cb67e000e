#!/usr/bin/env bash
# The whole test suite: install the build dependencies if missing, then run every test, then the Slurm test.
# Tests make their own tiny data; they never need the Fashion-MNIST package.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
swift build --build-tests
swift test --skip-build
# Every published report under docs/results/ rebuilds byte-identically from the committed comparison.json files.
bash scripts/rebuild-results.sh .build/debug/aecnn
# The Slurm test: a single-node cluster on this machine runs the smoke pipeline through `aecnn submit --slurm`
# (installs the Slurm packages when missing; skipped, saying why, when not root).
bash scripts/slurm-test.sh .build/debug/aecnn
