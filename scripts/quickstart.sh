#!/usr/bin/env bash
# The main job: install what is missing, build in release mode, and run the quickstart pipeline on
# Fashion-MNIST. Outputs go to Checkpoints/quickstart/. Safe to interrupt: run it again to resume.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh --with-data
swift build -c release --product aecnn
.build/release/aecnn stage train-base --pipeline Pipelines/quickstart.yaml
