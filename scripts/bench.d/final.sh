#!/usr/bin/env bash
# Bench: the chained rebuild of a final image (pause base rebuilt from its NanoServer
# pin, then the final image rebuilt on it from Dockerfile_windows, binaries given) against
# a full verify of the same published final image (`inspect --diff-ids`: every layer
# read, decompressed and its digest and diff_id checked), same run, same files.
# The binaries are small test programs built here by scripts/build-pause-binaries.sh
# (needs x86_64-w64-mingw32-gcc and go); the NanoServer is the synthetic one with
# $PV_BENCH_FINAL_MB MiB of padding (default 300). Interleaved, median of $PV_BENCH_RUNS
# (7) runs, wall and CPU (scripts/lib/bench_pair.sh).
# Target (issue 15): chain <= 1.2 x verify (CPU). Prints both ratios; exits 1 above it.
set -euo pipefail
cd "$(dirname "$0")/../.."
bin="${PV_BIN:-${PAUSE_VERIFY_BIN:-target/release/pause-verify}}"
[ -x "$bin" ] || cargo build --release --quiet
mb="${PV_BENCH_FINAL_MB:-300}"
work="$(mktemp -d "${PV_BENCH_DIR:-/tmp}/final.XXXXXX")"
trap 'rm -rf "$work"' EXIT

. scripts/lib/bench_pair.sh
runs="${PV_BENCH_RUNS:-7}"
root_ref() { echo "oci:$1@$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["manifests"][0]["digest"])' "$1/index.json")"; }

# Test programs (ours, not kubernetes' sources).
mkdir -p "$work/src/windows/wincat"
printf '#include <stdio.h>\nint main(int c, char **v) { if (c > 1) puts(v[1]); return 0; }\n' > "$work/src/windows/pause.c"
printf 'package main\n\nimport "os"\n\nfunc main() { os.Stdout.WriteString("wincat\\n") }\n' > "$work/src/windows/wincat/main.go"
scripts/build-pause-binaries.sh "$work/src" "$work/ctx" >/dev/null
cat > "$work/ctx/Dockerfile_windows" <<'EOF'
ARG BASE
FROM ${BASE}
ARG ARCH
ADD bin/pause-windows-${ARCH}.exe /pause.exe
ADD bin/wincat-windows-amd64 /Windows/System32/wincat.exe
ENV PATH="C:\Windows\system32;C:\Windows;"
ENTRYPOINT ["/pause.exe"]
EOF

"$bin" fixture nanoserver --out "$work/nano" --os-version 10.0.20348.2849 --size-mb "$mb" -q >/dev/null
nano=$(root_ref "$work/nano")
{ echo 'schemaVersion = "1"'; "$bin" pin "$nano" --name nano; } > "$work/pins.toml"
"$bin" build --base "$nano" --out "$work/pause-base" --platform windows/amd64 -q >/dev/null
pb=$(root_ref "$work/pause-base")
"$bin" build --base "$pb" --recipe "$work/ctx/Dockerfile_windows" --context "$work/ctx" \
  --build-arg ARCH=amd64 --out "$work/final" -q >/dev/null
chain=("$bin" rebuild "oci:$work/final" --base "$pb" --recipe "$work/ctx/Dockerfile_windows"
  --context "$work/ctx" --build-arg ARCH=amd64 --pins "$work/pins.toml" -q)
"${chain[@]}" >/dev/null || { echo "bench final: the chain does not pass" >&2; exit 1; }
size=$(du -sm "$work/final" | cut -f1)
q() { printf "'%s' " "$@"; }
bench_pair "$runs" "bench final (NanoServer ${mb} MiB padding, ${size} MiB of blobs): chain rebuild+compare" 1.2 \
  "$(q "${chain[@]}")" "$(q "$bin" inspect --diff-ids "oci:$work/final" -q)" || {
  echo "bench final: the chained rebuild is over 1.2 x a full verify (CPU)" >&2
  exit 1
}
