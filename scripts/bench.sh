#!/usr/bin/env bash
# Benchmarks: each part in scripts/bench.d/ measures pause-verify against a reference
# run in the same script (gzip -dc | sha256sum, reglookup, skopeo, ...) and prints
# throughputs and ratios. Figures are measurements, never assertions.
#   scripts/bench.sh            run every part
#   scripts/bench.sh hive       run scripts/bench.d/hive.sh only
set -euo pipefail
cd "$(dirname "$0")/.."
PV_ROOT=$(pwd)
. scripts/lib/tools.sh
install_debian
cargo build --release --locked -q
export PV_BIN=$PV_ROOT/target/release/pause-verify
export PV_BENCH_DIR=${PV_BENCH_DIR:-$(mktemp -d -t pause-verify-bench.XXXXXX)}
trap 'rm -rf "$PV_BENCH_DIR"' EXIT
for part in scripts/bench.d/*.sh; do
  name=$(basename "$part" .sh)
  if [ $# -gt 0 ] && [[ " $* " != *" $name "* ]]; then continue; fi
  echo "==> bench: $name"
  bash "$part"
  echo
done
