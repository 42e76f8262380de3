#!/usr/bin/env bash
# The test command. Installs what the tests need (Debian packages, a Python venv, npm
# packages, cargo-deny) when missing, starts the loopback registries, then runs
# formatting, lints, the licence check and every unit and integration test.
# Every external component is required: nothing skips (PAUSE_VERIFY_REQUIRE_TOOLS=1).
set -euo pipefail
cd "$(dirname "$0")/.."
PV_ROOT=$(pwd)
. scripts/lib/tools.sh
. scripts/lib/registry.sh

step() { echo; echo "==> $*"; }

# CI builds once from scratch: incremental state would only cost disk.
if [ "${CI:-}" = true ]; then export CARGO_INCREMENTAL=0; fi
step "disk: $(df -h --output=avail . | tail -1 | tr -d ' ') free where target/ is built"
avail_kib=$(df -k --output=avail . | tail -1 | tr -d ' ')
if [ "$avail_kib" -lt 4194304 ]; then
  echo "warning: under 4 GiB free; the build and tests need about 3 GiB (target/, fuzz/target/, temp files)" >&2
fi

step "installing test components (only what is missing)"
install_debian
install_python
install_node
install_cargo_tools

step "cargo fmt --check"
cargo fmt --all -- --check

step "cargo clippy --all-targets -- -D warnings"
cargo clippy --all-targets --locked -- -D warnings

step "cargo deny check licenses"
cargo deny --log-level error check licenses

step "starting loopback registries"
PV_REG_ROOT=$(mktemp -d -t pause-verify-registry.XXXXXX)
export PV_REG_ROOT
trap 'registry_stop_all; rm -rf "$PV_REG_ROOT"' EXIT
PAUSE_VERIFY_REGISTRY=$(registry_start plain)
htpasswd -Bbc "$PV_REG_ROOT/htpasswd" pvuser pvpass 2>/dev/null
PAUSE_VERIFY_AUTH_REGISTRY=$(registry_start auth "$PV_REG_ROOT/htpasswd")
export PAUSE_VERIFY_REGISTRY PAUSE_VERIFY_AUTH_REGISTRY
export PAUSE_VERIFY_AUTH_USER=pvuser PAUSE_VERIFY_AUTH_PASS=pvpass
echo "registry: $PAUSE_VERIFY_REGISTRY, with basic auth: $PAUSE_VERIFY_AUTH_REGISTRY"

step "cargo test (unit + integration)"
export PAUSE_VERIFY_REQUIRE_TOOLS=1
test_log=$PV_REG_ROOT/cargo-test.log
cargo test --locked --all-targets --no-fail-fast -- --test-threads="${PAUSE_VERIFY_TEST_THREADS:-2}" 2>&1 | tee "$test_log"
passed=$(awk '/^test result:/ { for (i = 1; i < NF; i++) if ($(i+1) ~ /^passed/) n += $i } END { print n + 0 }' "$test_log")
failed=$(awk '/^test result:/ { for (i = 1; i < NF; i++) if ($(i+1) ~ /^failed/) n += $i } END { print n + 0 }' "$test_log")

if [ -x scripts/fuzz.sh ]; then
  # Every parser's target for 5 s (26 targets: about 2.5 min plus the build); long runs:
  # scripts/fuzz.sh SECONDS (docs/fuzzing.md).
  step "fuzz targets: build and a short run of each"
  scripts/fuzz.sh "${PV_FUZZ_SECONDS:-5}"
fi

echo
echo "scripts/test.sh: all checks passed"
echo "tests: $passed passed, $failed failed"
