#!/usr/bin/env bash
# Short fuzz runs of the hive reader and the .reg parser (cargo-fuzz, libFuzzer).
# Usage: scripts/fuzz.sh [SECONDS_PER_TARGET]   (default 30)
# cargo-fuzz needs nightly-only flags (-Zsanitizer); on a stable toolchain
# RUSTC_BOOTSTRAP=1 lets the same compiler accept them.
set -euo pipefail
cd "$(dirname "$0")/.."
secs="${1:-30}"
command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --locked
export RUSTC_BOOTSTRAP=1
fixtures="${PAUSE_VERIFY_FIXTURES:-tests/fixtures}"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/hive" "$work/reg"
# Seeds: the real hives and .reg files (copied into a temp corpus, never into the repo).
if [ -d "$fixtures/hives" ]; then
  find "$fixtures/hives" -type f ! -name '*.txt' -exec cp {} "$work/hive/" \;
fi
if [ -f tests/fixtures/upstream/windows-pause-image-base/binaries/keylight.reg ]; then
  cp tests/fixtures/upstream/windows-pause-image-base/binaries/keylight.reg "$work/reg/"
fi
printf 'Windows Registry Editor Version 5.00\r\n[HKEY_LOCAL_MACHINE\\SYSTEM\\CurrentControlSet\\Services\\X]\r\n@="a\\\\b"\r\n"b"=hex(2):41,00,\\\r\n  00,00\r\n"c"=-\r\n[-HKEY_LOCAL_MACHINE\\SOFTWARE\\Y]\r\n' > "$work/reg/seed.reg"
cd fuzz
cargo fuzz build
cargo fuzz run hive_read "$work/hive" -- -max_total_time="$secs" -max_len=600000 -rss_limit_mb=4096
cargo fuzz run regfile_parse "$work/reg" -- -max_total_time="$secs"
echo "fuzz: both targets ran ${secs}s without a crash"
