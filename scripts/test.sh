#!/usr/bin/env bash
# The whole test suite: installs what the tests need, checks the formatting, builds, runs the Swift unit and
# integration tests, then the real-client matrix, bad-input, and crash tests against a real
# gateway started by the tests themselves on loopback.
set -euo pipefail
cd "$(dirname "$0")/.."
export SWIFT_DETERMINISTIC_HASHING=1

./scripts/install-test-deps.sh
# Formatting (.swift-format: line length 150 and the project's idioms) is checked like a test;
# `swift-format format -i -r Package.swift Sources Tests` applies it.
swift-format lint --strict --recursive --parallel Package.swift Sources Tests
swift build -j 2 --product passerelle
swift build -j 2 --build-tests
swift test -j 2 --skip-build
PASSERELLE_BIN="$PWD/.build/debug/passerelle" python3 -m pytest -q -p no:cacheprovider Tests/clients
