#!/usr/bin/env bash
# packaging/build-deb.sh [OUTDIR]: builds the Debian package from this tree (`make deb`).
# The tree (tracked and untracked files that git does not ignore; everything but build
# directories without git) is copied to OUTDIR/almanac-VERSION, and dpkg-buildpackage -b
# builds there, so its output (.deb, .buildinfo, .changes, written to the parent directory)
# lands in OUTDIR (default build-deb) and the work tree stays clean. The package's version
# is debian/changelog's, which must equal project()'s version in CMakeLists.txt.
set -euo pipefail
cd "$(dirname "$0")/.."
out=$(realpath -m "${1:-build-deb}")
version=$(sed -nE 's/^project\(almanac VERSION ([0-9.]+).*/\1/p' CMakeLists.txt)
deb_version=$(dpkg-parsechangelog -S Version)
if [ "$version" != "$deb_version" ]; then
    echo "build-deb: debian/changelog is at $deb_version but CMakeLists.txt at $version;" \
        "add a changelog entry (dch -v $version)" >&2
    exit 1
fi
src="$out/almanac-$version"
rm -rf "$out"
mkdir -p "$src"
if git rev-parse --is-inside-work-tree >/dev/null 2>&1; then
    git ls-files -z --cached --others --exclude-standard |
        tar --null -T - --ignore-failed-read -cf - 2>/dev/null | tar -xf - -C "$src"
else
    tar --exclude='./build*' --exclude=./data -cf - . | tar -xf - -C "$src"
fi
jobs=${JOBS:-$(nproc 2>/dev/null || echo 2)}
(cd "$src" && DEB_BUILD_OPTIONS="nocheck parallel=$jobs" dpkg-buildpackage -b -us -uc)
arch=$(dpkg --print-architecture)
echo "build-deb: $out/almanac_${version}_${arch}.deb"
