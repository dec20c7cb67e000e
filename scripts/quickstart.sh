#!/usr/bin/env bash
# The main job: install what is missing, build in release mode, and run every stage of the quickstart
# pipeline on Fashion-MNIST, ending with its accuracy table. Outputs go to Checkpoints/quickstart/.
# Safe to interrupt at any moment: run it again to resume.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh --with-data
swift build -c release --product aecnn
.build/release/aecnn run --pipeline Pipelines/quickstart.yaml
