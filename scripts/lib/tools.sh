# Install what the tests, demo and benchmarks need, from the package registries by name,
# only when missing. Source this file and call the functions you need.

PV_ROOT=${PV_ROOT:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
PV_TOOLS=${PV_TOOLS:-$PV_ROOT/.test-tools}

_pv_log() { echo "[pause-verify setup] $*" >&2; }

_pv_sudo() {
  if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi
}

# Debian packages: the loopback registry, image tools, hive readers, benchmark helpers.
PV_DEBIAN_PACKAGES=(docker-registry skopeo umoci libhivex-bin reglookup python3-hivex
  apache2-utils time curl gzip openssl python3-venv golang-go gcc-mingw-w64-x86-64 jq)

install_debian() {
  local missing=() p
  for p in "${PV_DEBIAN_PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  _pv_log "apt-get install ${missing[*]}"
  _pv_sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive _pv_sudo apt-get install -y -qq "${missing[@]}" >/dev/null
}

# Python peers: regipy and python-registry (hive readers), securesystemslib (DSSE),
# check-jsonschema (GitHub/GitLab CI schemas, vendored: offline), in-toto (in-toto-verify),
# markdown (a real renderer, tables extension, for the --markdown reports).
PV_PYTHON_PACKAGES=(regipy==6.5.0 python-registry==1.3.1 securesystemslib==1.6.0 cryptography pynacl
  check-jsonschema==0.39.0 in-toto==3.1.0 markdown==3.11.3)

install_python() {
  local venv=$PV_TOOLS/venv
  if [ ! -x "$venv/bin/python" ]; then
    _pv_log "python venv at $venv"
    python3 -m venv "$venv"
  fi
  if ! "$venv/bin/python" -c 'import regipy, Registry, securesystemslib, nacl, check_jsonschema, in_toto, markdown' 2>/dev/null; then
    _pv_log "pip install ${PV_PYTHON_PACKAGES[*]}"
    "$venv/bin/pip" install -q --disable-pip-version-check "${PV_PYTHON_PACKAGES[@]}"
  fi
  export PAUSE_VERIFY_PYTHON=$venv/bin/python
}

# npm peers: @sigstore/verify checks our keyed bundles.
install_node() {
  local dir=$PV_TOOLS/node
  mkdir -p "$dir"
  if [ ! -d "$dir/node_modules/@sigstore/verify" ]; then
    _pv_log "npm install @sigstore/verify @sigstore/bundle"
    (cd "$dir" && { [ -f package.json ] || npm init -y >/dev/null; } &&
      npm install --silent --no-audit --no-fund @sigstore/verify@3 @sigstore/bundle@4 >/dev/null)
  fi
  export PAUSE_VERIFY_NODE_DIR=$dir
}

# cargo tools: cargo-deny for the licence check.
install_cargo_tools() {
  if ! cargo deny --version >/dev/null 2>&1; then
    _pv_log "cargo install cargo-deny (takes a few minutes once)"
    cargo install --locked -q cargo-deny
  fi
}
