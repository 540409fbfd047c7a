#!/usr/bin/env bash
# Format Harvest's C++ sources with the repository's .clang-format, or check that they are.
#
#   scripts/format.sh            rewrite every tracked .cpp/.hpp file in place
#   scripts/format.sh --check    list the files that differ and exit 1 if any does (CI)
#
# Uses clang-format-14 (Debian 12's clang-format-14 package, installed by install-deps.sh):
# other versions format a few constructs differently, so CI and editors must agree on one.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

formatter=$(command -v clang-format-14 || command -v clang-format || true)
[[ -n "$formatter" ]] || { echo "format.sh: clang-format-14 not found (scripts/install-deps.sh)" >&2; exit 2; }

mapfile -t files < <(git ls-files '*.cpp' '*.hpp')
if [[ "${1:-}" == "--check" ]]; then
  differ=()
  for f in "${files[@]}"; do
    "$formatter" --dry-run --Werror "$f" >/dev/null 2>&1 || differ+=("$f")
  done
  if [[ ${#differ[@]} -gt 0 ]]; then
    echo "format.sh: ${#differ[@]} file(s) differ from .clang-format (run scripts/format.sh):" >&2
    printf '  %s\n' "${differ[@]}" >&2
    exit 1
  fi
  echo "format.sh: ${#files[@]} files formatted"
else
  "$formatter" -i "${files[@]}"
fi
