#!/usr/bin/env bash
# The test suite: installs what is missing, builds in release mode and runs every test (unit tests,
# and integration tests that launch the built mlp under real mpirun). CI runs exactly this.
set -euo pipefail
cd "$(dirname "$0")/.."
bash Scripts/setup.sh --tests
swift build -c release --build-tests
swift test -c release --skip-build "$@"
