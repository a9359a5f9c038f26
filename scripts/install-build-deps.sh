#!/usr/bin/env bash
# Installs the Debian packages the build needs (GRDB links the system SQLite), plus any extra
# package names given as arguments. Uses sudo only when not root; quiet and idempotent.
set -euo pipefail
need=()
for p in libsqlite3-dev "$@"; do
    dpkg -s "$p" >/dev/null 2>&1 || need+=("$p")
done
if ((${#need[@]})); then
    SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need[@]}" >/dev/null
fi
