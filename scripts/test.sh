#!/usr/bin/env bash
# The whole test suite: installs what the tests need, builds, runs the Swift unit and
# integration tests, then the real-client matrix, bad-input, and crash tests against a real
# gateway started by the tests themselves on loopback.
set -euo pipefail
cd "$(dirname "$0")/.."
export SWIFT_DETERMINISTIC_HASHING=1

./scripts/install-test-deps.sh
swift build -j 2 --product passerelle
swift build -j 2 --build-tests
swift test -j 2 --skip-build
PASSERELLE_BIN="$PWD/.build/debug/passerelle" python3 -m pytest -q -p no:cacheprovider Tests/clients
