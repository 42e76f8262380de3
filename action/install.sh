#!/usr/bin/env bash
# Install the pause-verify binary the composite action (action.yml) runs. Every step of
# action.yml is one of these scripts, so tests/it/pipelines.rs runs exactly the same
# commands locally (tests/action_runner.py).
#
#   action/install.sh plan     -> outputs: cache-key, cache-prefix, root (the install prefix to cache)
#   action/install.sh install  -> outputs: bin (absolute path of the binary)
#
# Inputs (environment, set from the action's inputs):
#   INPUT_BINARY         an existing pause-verify binary: used as it is (nothing installed)
#   INPUT_BINARY_URL     a release binary to download ...
#   INPUT_BINARY_SHA256  ... and its sha256 (required with a URL: a mismatch fails)
#   INPUT_REPOSITORY     git URL for `cargo install --git` (with INPUT_REV)
#   INPUT_REV            a full 40-hex commit: `cargo install --locked --git REPO --rev REV`
#   (none of them)       build the action's own checkout: `cargo install --locked --path`
#                        of the directory above this script (pinned by the action's ref)
#   RUNNER_TOOL_CACHE / RUNNER_TEMP / HOME   where the install prefix goes
# Outputs are appended to $GITHUB_OUTPUT as NAME=VALUE lines.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
out=${GITHUB_OUTPUT:-/dev/stdout}
mode=${1:?usage: install.sh plan|install}
binary=${INPUT_BINARY:-}
url=${INPUT_BINARY_URL:-}
sha=${INPUT_BINARY_SHA256:-}
repo=${INPUT_REPOSITORY:-}
rev=${INPUT_REV:-}

die() { echo "pause-verify action: $*" >&2; exit 2; }

if [ -n "$rev" ] && ! [[ $rev =~ ^[0-9a-f]{40}$ ]]; then
  die "rev must be a full 40-hex commit (a branch or tag can move), got: $rev"
fi
if [ -n "$url" ] && ! [[ $sha =~ ^[0-9a-f]{64}$ ]]; then
  die "binary-url needs binary-sha256 (64 hex digits)"
fi

# What identifies the binary: the commit, the download's checksum, or the source tree.
source_key() {
  if [ -n "$url" ]; then echo "url-$sha"
  elif [ -n "$rev" ]; then echo "git-$rev"
  else
    (cd "$here" && find Cargo.toml Cargo.lock src -type f -print0 | LC_ALL=C sort -z |
      xargs -0 sha256sum | sha256sum | cut -c1-32 | sed 's/^/src-/')
  fi
}

root_dir() {
  local base=${RUNNER_TOOL_CACHE:-${RUNNER_TEMP:-${HOME:-/tmp}/.cache}}
  echo "$base/pause-verify/$(source_key)"
}

case $mode in
plan)
  if [ -n "$binary" ]; then
    echo "cache-key=none" >>"$out"
    echo "cache-prefix=none" >>"$out"
    echo "root=" >>"$out"
  else
    prefix=pause-verify-bin-$(uname -s)-$(uname -m)-
    echo "cache-key=$prefix$(source_key)" >>"$out"
    echo "cache-prefix=$prefix" >>"$out"
    echo "root=$(root_dir)" >>"$out"
  fi
  ;;
install)
  if [ -n "$binary" ]; then
    bin=$(command -v "$binary" || true)
    [ -n "$bin" ] && [ -x "$bin" ] || die "binary $binary: not an executable"
  else
    root=$(root_dir)
    bin=$root/bin/pause-verify
    if [ -x "$bin" ]; then
      echo "pause-verify: cached at $bin"
    elif [ -n "$url" ]; then
      mkdir -p "$root/bin"
      curl -fsSL --retry 3 -o "$bin.part" "$url"
      got=$(sha256sum "$bin.part" | cut -d' ' -f1)
      [ "$got" = "$sha" ] || { rm -f "$bin.part"; die "binary-url: sha256 $got, expected $sha"; }
      chmod +x "$bin.part"
      mv "$bin.part" "$bin"
    elif [ -n "$rev" ]; then
      [ -n "$repo" ] || die "rev needs repository"
      cargo install --locked --root "$root" --git "$repo" --rev "$rev" pause-verify
    else
      cargo install --locked --root "$root" --path "$here"
    fi
  fi
  echo "pause-verify: $("$bin" --version)"
  echo "bin=$bin" >>"$out"
  ;;
*) die "unknown mode $mode" ;;
esac
