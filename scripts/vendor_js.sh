#!/usr/bin/env bash
# Reproduce dashboard/static/vendor/: the browser libraries the dashboard serves itself (its
# Content-Security-Policy allows scripts from the app only, and no page may depend on a CDN).
# Fetches each pinned package from the npm registry with `npm pack`, checks the sha256 of every
# file taken from it, and copies only the minified files and the licence. Leaflet's marker images
# are left out: the map draws its markers as shapes.
#
# To update a library: change its version below, run this script, read the changelog, replace
# the sha256 sums with the new files' ones (the script prints them when they differ), run the
# browser tests (.venv/bin/python -m pytest tests/browser) and update docs/frontend.md.
set -euo pipefail
cd "$(dirname "$0")/.."

VENDOR=dashboard/static/vendor

# package@version  file inside the package  sha256
FILES=(
    "leaflet@1.9.4 dist/leaflet.js db49d009c841f5ca34a888c96511ae936fd9f5533e90d8b2c4d57596f4e5641a"
    "leaflet@1.9.4 dist/leaflet.css a7837102824184820dfa198d1ebcd109ff6d0ff9a2672a074b9a1b4d147d04c6"
    "leaflet@1.9.4 LICENSE 53e8dc25862014e4324741ca18fbe3611e11d42ef69f59f86ea8c5389647d4cb"
    "uplot@1.6.32 dist/uPlot.iife.min.js 19c8d4c6ad88929a79f4ae49d6f7161566dfd0ba3d15cc495e974f787eb78f1f"
    "uplot@1.6.32 dist/uPlot.min.css df630c6a8d6f8eeaff264b50f73ce5b114f646ffd9a0bb74f049b0a00135fa04"
    "uplot@1.6.32 LICENSE 8f989229699b4fe2f1a0432d0e9edc338a8a911e250e2d1b01ecd770a5f5b1bd"
)

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

failed=0
declare -A unpacked=()
for entry in "${FILES[@]}"; do
    read -r package file expected <<<"$entry"
    name=${package%@*}
    version=${package#*@}
    source="$work/$name-$version"
    if [ -z "${unpacked[$package]:-}" ]; then
        mkdir -p "$source"
        tarball=$(cd "$work" && npm pack --silent "$package")
        tar -xzf "$work/$tarball" -C "$source" --strip-components=1
        unpacked[$package]=1
    fi
    actual=$(sha256sum "$source/$file" | cut -d' ' -f1)
    if [ "$actual" != "$expected" ]; then
        echo "$package $file: sha256 $actual, expected $expected" >&2
        failed=1
        continue
    fi
    target="$VENDOR/$name-$version"
    mkdir -p "$target"
    cp "$source/$file" "$target/$(basename "$file")"
    echo "$target/$(basename "$file")  $actual"
done

if [ "$failed" -ne 0 ]; then
    echo "Some files differ from the pinned sha256: nothing was copied for them." >&2
    exit 1
fi
