#!/usr/bin/env bash
# Build the two binaries of the Windows pause image from sources the user gives, the
# same bytes on every run and machine, into a build context for Dockerfile_windows.
#
#   scripts/build-pause-binaries.sh [--version V] [--arch amd64] SRC_DIR OUT_DIR
#
# SRC_DIR is laid out as kubernetes' build/pause/ (take it from your own checkout; this
# repository holds no copy of it):
#   SRC_DIR/windows/pause.c            -> OUT_DIR/bin/pause-windows-ARCH.exe
#   SRC_DIR/windows/wincat/*.go        -> OUT_DIR/bin/wincat-windows-amd64
# and OUT_DIR/build-info.txt records the compilers' versions and every source's sha256.
#
# pause.exe: Debian's x86_64-w64-mingw32-gcc with upstream's flags (-Os -Wall -Werror
# -static -DVERSION=V), plus what makes it reproducible: -Wl,--no-insert-timestamp (no
# COFF TimeDateStamp), -ffile-prefix-map (no build directory in the binary), then strip
# with SOURCE_DATE_EPOCH=0 (else strip stamps the current time).
# wincat: Go with CGO_ENABLED=0 GOOS=windows GOARCH=amd64, -trimpath (no build
# directory) and -ldflags=-buildid= (no build id), -buildvcs=false.
# VERSION defaults to $PAUSE_VERSION or v0.0.0-local; upstream uses v$(TAG)-$(REV), so
# give the same string to rebuild a published pause.exe.
set -euo pipefail

version=${PAUSE_VERSION:-v0.0.0-local}
arch=amd64
while [ $# -gt 0 ]; do
  case $1 in
    --version) version=$2; shift 2 ;;
    --arch) arch=$2; shift 2 ;;
    -h|--help) sed -n '2,19p' "$0"; exit 0 ;;
    --) shift; break ;;
    -*) echo "build-pause-binaries: unknown option $1" >&2; exit 2 ;;
    *) break ;;
  esac
done
if [ $# -ne 2 ]; then
  echo "usage: $0 [--version V] [--arch amd64] SRC_DIR OUT_DIR" >&2
  exit 2
fi
src=$(cd "$1" && pwd)
out=$2
case $version in
  *[!A-Za-z0-9._+-]*|'') echo "build-pause-binaries: --version $version: use letters, digits and ._+-" >&2; exit 2 ;;
esac
[ "$arch" = amd64 ] || { echo "build-pause-binaries: only --arch amd64 is supported (mingw x86_64)" >&2; exit 2; }
pause_c=$src/windows/pause.c
wincat_dir=$src/windows/wincat
[ -f "$pause_c" ] || { echo "build-pause-binaries: $pause_c not found (SRC_DIR is laid out as kubernetes' build/pause/)" >&2; exit 2; }
compgen -G "$wincat_dir/*.go" >/dev/null || { echo "build-pause-binaries: no Go source in $wincat_dir" >&2; exit 2; }
cc=x86_64-w64-mingw32-gcc
strip=x86_64-w64-mingw32-strip
command -v "$cc" >/dev/null || { echo "build-pause-binaries: $cc not found: apt-get install gcc-mingw-w64-x86-64" >&2; exit 2; }
command -v go >/dev/null || { echo "build-pause-binaries: go not found: apt-get install golang-go" >&2; exit 2; }

mkdir -p "$out/bin"
out=$(cd "$out" && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# The compiler sees the source under a fixed name in a fixed place relative to its
# working directory, so nothing about SRC_DIR reaches the object.
cp "$pause_c" "$work/pause.c"
# strip writes the current time into the COFF header unless SOURCE_DATE_EPOCH is set.
(cd "$work" && export LC_ALL=C SOURCE_DATE_EPOCH=0 && "$cc" -Os -Wall -Werror -static \
  "-DVERSION=$version" -ffile-prefix-map="$work"=. -Wl,--no-insert-timestamp \
  -o pause.exe pause.c && "$strip" pause.exe)
mv "$work/pause.exe" "$out/bin/pause-windows-$arch.exe"

mkdir -p "$work/wincat" "$work/gocache" "$work/gopath"
cp "$wincat_dir"/*.go "$work/wincat/"
[ -f "$wincat_dir/go.mod" ] && cp "$wincat_dir/go.mod" "$work/wincat/"
[ -f "$wincat_dir/go.sum" ] && cp "$wincat_dir/go.sum" "$work/wincat/"
(cd "$work/wincat" && env GOCACHE="$work/gocache" GOPATH="$work/gopath" GOFLAGS= \
  GO111MODULE=auto CGO_ENABLED=0 GOOS=windows GOARCH=amd64 \
  go build -trimpath -buildvcs=false -ldflags=-buildid= -o wincat.exe $(cd "$work/wincat" && ls ./*.go | grep -v '_test\.go$'))
mv "$work/wincat/wincat.exe" "$out/bin/wincat-windows-amd64"

{
  echo "version $version"
  echo "cc $("$cc" --version | head -n1)"
  echo "go $(go version)"
  (cd "$src" && sha256sum windows/pause.c windows/wincat/*.go)
  (cd "$out" && sha256sum "bin/pause-windows-$arch.exe" bin/wincat-windows-amd64)
} > "$out/build-info.txt"
cat "$out/build-info.txt"
