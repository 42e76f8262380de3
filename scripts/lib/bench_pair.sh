# Sourced by scripts/bench.d/{rebuild,final}.sh: one command against a reference, both run
# in turn (scripts/lib/measure.py: interleaved rounds, medians, wall and CPU).
#   bench_pair RUNS LABEL TARGET 'CMD' 'REFERENCE'
# prints both medians and the ratios CMD / REFERENCE; returns 1 when the CPU ratio is over
# TARGET (CPU: the work done, which load from elsewhere does not inflate as it does wall).
bench_pair() {
  local runs=$1 label=$2 target=$3 cmd=$4 ref=$5 out
  out=$(mktemp)
  python3 "$(dirname "${BASH_SOURCE[0]}")/measure.py" "$runs" cmd "" "$cmd" ref "" "$ref" > "$out"
  python3 - "$out" "$label" "$target" <<'PY'
import sys
t = {}
for line in open(sys.argv[1]):
    k, w, c, *_ = line.split()
    t[k] = (float(w), float(c))
(cw, cc), (rw, rc) = t["cmd"], t["ref"]
label, target = sys.argv[2], float(sys.argv[3])
print(f"{label}: {cw:.3f} s wall / {cc:.3f} s CPU vs full verify {rw:.3f} / {rc:.3f}: "
      f"ratio wall {cw / rw:.2f}, CPU {cc / rc:.2f} (target <= {target:.2f})")
sys.exit(0 if cc <= target * rc else 1)
PY
  local rc=$?
  rm -f "$out"
  return $rc
}
