#!/usr/bin/env bash
# Install the Debian packages Harvest needs to build, test, demo and benchmark.
#
#   scripts/install-deps.sh
#
# Idempotent: when every package is already installed it prints nothing and touches nothing.
# Otherwise it runs `apt-get update` and installs only the missing packages, always with
# --no-install-recommends: a recommends chain can pull in libboost-dev (1.74), which removes
# Boost 1.81 (see TOOLCHAIN.md). At the end it checks that the Boost 1.81 headers are still there.
# Uses sudo only when not root and sudo exists. Downloads nothing but Debian packages.
set -euo pipefail

PACKAGES=(
  libboost1.81-dev libboost-system1.81-dev libboost-url1.81-dev libboost-json1.81-dev
  libssl-dev libsimdjson-dev catch2 libyaml-cpp-dev libcli11-dev libspdlog-dev libfmt-dev
  libxml2-dev libsqlite3-dev libhiredis-dev zlib1g-dev libbrotli-dev libmimalloc-dev libnghttp2-dev
  pkg-config prometheus redis-server nginx wrk nghttp2-client nghttp2-server openssl ccache
  tinyproxy dante-server microsocks   # proxy tests: HTTP + CONNECT, SOCKS5, SOCKS5 user/pass
  cmake g++ make lld python3 curl python3-parsel time valgrind   # lld: the faster linker CMake picks
  clang-14 libclang-rt-14-dev clang-format-14
  publicsuffix      # the Public Suffix List the cookie jar refuses Domain= suffixes by
  dpkg-dev pandoc   # the .deb's Depends (dpkg-shlibdeps) and the man page (docs/cli.md -> harvest.1)
  chromium          # render: rules (headless, driven over the DevTools pipe) and their tests
)
BOOST_VERSION_HEADER=/usr/include/boost/version.hpp
BOOST_WANTED=108100

die() { echo "install-deps: $*" >&2; exit 1; }

missing=()
for p in "${PACKAGES[@]}"; do
  # "ii " = wanted install, currently installed; anything else (absent, half-configured) is missing
  status=$(dpkg-query -W -f='${db:Status-Abbrev}' "$p" 2>/dev/null || true)
  [[ "$status" == "ii "* ]] || missing+=("$p")
done

if [[ ${#missing[@]} -gt 0 ]]; then
  SUDO=()
  if [[ $(id -u) -ne 0 ]]; then
    command -v sudo >/dev/null 2>&1 ||
      die "not root and no sudo: install these packages as root: ${missing[*]}"
    SUDO=(sudo)
  fi
  echo "install-deps: installing ${missing[*]}" >&2
  "${SUDO[@]}" apt-get update -q >/dev/null || die "apt-get update failed"
  "${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive \
    apt-get install -y -q --no-install-recommends "${missing[@]}" ||
    die "apt-get install failed for: ${missing[*]}"
fi

[[ -f "$BOOST_VERSION_HEADER" ]] ||
  die "$BOOST_VERSION_HEADER is missing: Boost 1.81 headers were removed (reinstall libboost1.81-dev and avoid packages that pull in libboost-dev)"
grep -q "define BOOST_VERSION $BOOST_WANTED\$" "$BOOST_VERSION_HEADER" ||
  die "Boost headers are not 1.81 ($(grep 'define BOOST_VERSION ' "$BOOST_VERSION_HEADER")); reinstall libboost1.81-dev with --no-install-recommends"
