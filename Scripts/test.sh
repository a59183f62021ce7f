#!/usr/bin/env bash
# The test suite: installs what is missing, builds in release mode and runs every test (unit tests,
# and integration tests that launch the built mlp under real mpirun). CI runs exactly this.
# The run is bounded: past MLP_TEST_MINUTES (default 20; a green run takes about 11 here, 4 of them the Slurm tests) it is killed
# with a message, so a hang fails in minutes instead of running out CI's clock. Every launched
# command has its own, shorter limit that names the test (Tests/IntegrationTests/Launcher.swift).
set -euo pipefail
cd "$(dirname "$0")/.."
bash Scripts/setup.sh --tests
swift build -c release --build-tests
minutes=${MLP_TEST_MINUTES:-20}
status=0
timeout --kill-after=30s "${minutes}m" swift test -c release --skip-build "$@" || status=$?
if [ "$status" -eq 124 ] || [ "$status" -eq 137 ]; then
    echo "test.sh: the suite did not finish within $minutes minutes and was killed; the last 'Test ... started' line above names the test that hung" >&2
fi
exit "$status"
