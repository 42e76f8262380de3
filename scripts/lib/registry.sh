# Start and stop Debian's docker-registry (distribution 2.8) on loopback, for tests,
# the demo and benchmarks. Source this file; call `registry_start NAME [htpasswd-file]`,
# which prints HOST:PORT; `registry_stop_all` stops every instance started here.

_PV_REG_PIDS=()

_pv_free_port() {
  python3 - <<'PY'
import socket
s = socket.socket()
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])
s.close()
PY
}

# registry_start NAME [HTPASSWD] -> echoes 127.0.0.1:PORT; state in $PV_REG_ROOT/NAME
registry_start() {
  local name=$1 htpasswd=${2:-}
  local root=${PV_REG_ROOT:?PV_REG_ROOT must be set}/$name
  mkdir -p "$root/storage"
  local port
  port=$(_pv_free_port)
  {
    echo "version: 0.1"
    echo "log: {level: info, formatter: text, accesslog: {disabled: false}}"
    echo "storage:"
    echo "  filesystem: {rootdirectory: $root/storage}"
    echo "  delete: {enabled: true}"
    # Foreign (non-distributable) layers carry URLs; distribution rejects every URL
    # unless allowed (tests serve foreign layers from loopback).
    echo "validation: {manifests: {urls: {allow: ['^https?://']}}}"
    echo "http:"
    echo "  addr: 127.0.0.1:$port"
    echo "  secret: pause-verify-test-$name"
    if [ -n "$htpasswd" ]; then
      echo "auth:"
      echo "  htpasswd: {realm: pause-verify-test, path: $htpasswd}"
    fi
  } >"$root/config.yml"
  docker-registry serve "$root/config.yml" >"$root/registry.log" 2>&1 &
  echo $! >"$root/pid"
  local i
  for i in $(seq 1 100); do
    if curl -s -o /dev/null "http://127.0.0.1:$port/v2/"; then
      echo "127.0.0.1:$port"
      return 0
    fi
    sleep 0.1
  done
  echo "registry $name did not start; log:" >&2
  cat "$root/registry.log" >&2
  return 1
}

registry_stop_all() {
  local f p
  for f in "${PV_REG_ROOT:?}"/*/pid; do
    [ -f "$f" ] || continue
    p=$(cat "$f")
    kill "$p" 2>/dev/null || true
    for _ in $(seq 1 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
    rm -f "$f"
  done
}
