#!/usr/bin/env bash
# Builds the gateway (release) and starts it on embedded defaults; extra arguments go to
# `passerelle serve` (e.g. --data-dir DIR --listen 127.0.0.1:9000).
set -euo pipefail
cd "$(dirname "$0")/.."
export SWIFT_DETERMINISTIC_HASHING=1
./scripts/install-build-deps.sh qrencode   # terminal QR codes for TOTP enrolment
swift build -c release --product passerelle
exec .build/release/passerelle serve "$@"
