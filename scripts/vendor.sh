#!/usr/bin/env bash
# Refresh a vendored browser library from the npm registry (`npm pack`, no node_modules):
#   scripts/vendor.sh axe-core 4.14.1
#   scripts/vendor.sh hls.js 1.7.4
# It lands in static/vendor/<name>-<version>/ with its licence; files there are never edited.
set -euo pipefail
cd "$(dirname "$0")/.."
name="${1:?package name}" version="${2:?version}"
case "$name" in
  axe-core) files=(axe.min.js LICENSE LICENSE-3RD-PARTY.txt) ;;
  hls.js) files=(dist/hls.light.min.js LICENSE) ;;  # light: no DRM, subtitles or alt audio
  *) echo "don't know which files of $name to keep; add them here" >&2; exit 2 ;;
esac
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
(cd "$work" && npm pack --silent "$name@$version" >/dev/null && tar -xzf ./*.tgz)
target="static/vendor/$name-$version"
rm -rf "$target" && mkdir -p "$target"
for file in "${files[@]}"; do
  [ -f "$work/package/$file" ] && cp "$work/package/$file" "$target/"
  [ -f "$target/$(basename "$file")" ] || { echo "$name $version has no $file" >&2; exit 1; }
done
# Older copies of the same library go; templates and tests name the version they use.
for old in static/vendor/"$name"-*; do
  [ "$old" = "$target" ] || rm -rf "$old"
done
echo "$name $version -> $target: $(ls "$target" | tr '\n' ' ')"
