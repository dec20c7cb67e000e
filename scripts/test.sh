#!/usr/bin/env bash
# The whole test suite: install the build dependencies if missing, then run every test.
# Tests make their own tiny data; they never need the Fashion-MNIST package.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
swift build --build-tests
swift test --skip-build
