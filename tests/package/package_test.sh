#!/usr/bin/env bash
# The install layout and the Debian package (cmake/HarvestInstall.cmake), as a user gets them:
# builds the .deb with cpack, unpacks it with dpkg -x, checks every installed file is there,
# runs the unpacked harvest (--version, --help examples, check on each installed example
# config) and has systemd-analyze verify the unit when it exists. Everything it writes is under
# one temp folder, removed at the end (kept with HARVEST_KEEP_TMP=1). Needs no network.
#
#   tests/package/package_test.sh BUILD_DIR CMAKE CPACK VERSION MAN_PAGE(ON|OFF)
#
# CMake itself writes BUILD_DIR/install_manifest.txt on every install, cpack's included: the one
# file outside the temp folder this test changes.
set -euo pipefail

build_dir=$1
cmake=$2
cpack=$3
version=$4
man_page=$5

tmp=$(mktemp -d "${TMPDIR:-/tmp}/harvest-package.XXXXXX")
cleanup() {
    if [[ "${HARVEST_KEEP_TMP:-0}" == 1 ]]; then
        echo "package_test: kept $tmp"
    else
        rm -rf "$tmp"
    fi
}
trap cleanup EXIT

failures=0
fail() { echo "FAIL: $*" >&2; failures=$((failures + 1)); }
check_file() { [[ -f "$1" ]] || fail "missing ${1#"$root"}"; }

# cpack -B keeps _CPack_Packages (the staging install) and the .deb out of the build folder.
"$cpack" -G DEB --config "$build_dir/CPackConfig.cmake" -B "$tmp/package" >"$tmp/cpack.log" 2>&1 ||
    { cat "$tmp/cpack.log" >&2; echo "FAIL: cpack" >&2; exit 1; }
debs=("$tmp"/package/*.deb)
[[ ${#debs[@]} == 1 && -f "${debs[0]}" ]] || { echo "FAIL: cpack made no single .deb" >&2; exit 1; }
deb=${debs[0]}
echo "package_test: $(basename "$deb"), $(stat -c %s "$deb") bytes"

depends=$(dpkg-deb --field "$deb" Depends)
echo "package_test: Depends: $depends"
[[ "$(dpkg-deb --field "$deb" Version)" == "$version" ]] || fail "package version is not $version"
for lib in libc6 libstdc++6 libssl3; do
    [[ "$depends" == *"$lib"* ]] || fail "Depends lacks $lib (dpkg-shlibdeps did not run?)"
done

root=$tmp/root
dpkg -x "$deb" "$root"
harvest=$root/usr/bin/harvest
[[ -x "$harvest" ]] || fail "missing /usr/bin/harvest"
unit=$root/usr/lib/systemd/system/harvest-serve.service
man=$root/usr/share/man/man1/harvest.1
examples=$root/usr/share/harvest/examples
check_file "$unit"
check_file "$root/usr/share/harvest/grafana/harvest-dashboard.json"
check_file "$root/usr/share/harvest/grafana/provisioning/dashboards/harvest.yaml"
check_file "$root/usr/share/doc/harvest/README.md"
check_file "$root/usr/share/doc/harvest/docs/cli.md"
check_file "$root/usr/share/doc/harvest/docs/bulk-api.md"
for example in demo.yaml catalog-api.yaml serve.yaml; do
    check_file "$examples/$example"
done
if [[ "$man_page" == ON ]]; then
    check_file "$man"
    grep -q '^\.TH "HARVEST" "1"' "$man" || fail "harvest.1 has no .TH HARVEST 1 header"
    grep -q '^\.SH EXAMPLES' "$man" || fail "harvest.1 has no EXAMPLES section"
else
    echo "package_test: built without pandoc: no man page to check"
fi
(cd "$root" && find . -type f | sort) >"$tmp/files"
echo "package_test: $(wc -l <"$tmp/files") files:"
sed 's/^\./  /' "$tmp/files"

[[ -x "$harvest" ]] || { echo "FAIL: no binary to run ($failures failures)" >&2; exit 1; }
"$harvest" --version >"$tmp/version"
head -n 1 "$tmp/version" | grep -qx "harvest $version" || fail "--version says $(head -n 1 "$tmp/version")"

# Every --help ends with examples, and docs/cli.md (as installed) shows each of them.
for sub in "" run check fetch serve; do
    # shellcheck disable=SC2086  # "" = the top-level help
    "$harvest" $sub --help >"$tmp/help"
    grep -qx "Examples:" "$tmp/help" || fail "harvest $sub --help has no Examples:"
    count=0
    while IFS= read -r line; do
        count=$((count + 1))
        grep -qxF "$line" "$root/usr/share/doc/harvest/docs/cli.md" ||
            fail "docs/cli.md lacks the example of harvest $sub --help: $line"
    done < <(sed -n '/^Examples:$/,$ s/^  \(harvest .*\)$/\1/p' "$tmp/help")
    ((count >= 2 && count <= 4)) || fail "harvest $sub --help has $count examples, not 2 to 4"
done

# Every installed example is valid; serve.yaml is a service config. The crawl examples read the
# demo site's asins.txt (scripts/demo.sh makes it; DEMO_SITE says where): check reads seed files,
# so it gets a one-line one.
mkdir -p "$tmp/demo-site"
echo B000000001 >"$tmp/demo-site/asins.txt"
for config in "$examples"/*.yaml; do
    if [[ "$(basename "$config")" == serve.yaml ]]; then
        "$harvest" check --serve "$config" || fail "harvest check --serve $config"
    else
        DEMO_SITE=$tmp/demo-site "$harvest" check "$config" || fail "harvest check $config"
    fi
done

for directive in DynamicUser=yes StateDirectory=harvest ProtectSystem=strict ProtectHome=yes \
    NoNewPrivileges=yes PrivateTmp=yes "RestrictAddressFamilies=AF_INET AF_INET6 AF_UNIX" \
    "ExecStart=/usr/bin/harvest serve --config /etc/harvest/serve.yaml"; do
    grep -qxF "$directive" "$unit" || fail "the unit lacks $directive"
done
if command -v systemd-analyze >/dev/null 2>&1; then
    # verify wants ExecStart's binary to exist: the unpacked one stands in for /usr/bin/harvest.
    # With MANPATH on the unpacked man pages it also checks Documentation=man:harvest(1).
    sed "s|/usr/bin/harvest|$harvest|" "$unit" >"$tmp/harvest-serve.service"
    man_check=(--man=no)
    [[ "$man_page" == ON ]] && command -v man >/dev/null 2>&1 && man_check=(--man=yes)
    MANPATH=$root/usr/share/man systemd-analyze verify "${man_check[@]}" \
        "$tmp/harvest-serve.service" || fail "systemd-analyze verify harvest-serve.service"
else
    echo "package_test: systemd-analyze is not installed: the unit is not verified"
fi

# `cmake --install --prefix`: the same files under another prefix, the unit naming its binary.
prefix=$tmp/prefix
"$cmake" --install "$build_dir" --prefix "$prefix" --strip >"$tmp/install.log" 2>&1 ||
    { cat "$tmp/install.log" >&2; fail "cmake --install --prefix"; }
(cd "$prefix" && find . -type f | sed 's|^\./|./usr/|' | sort) >"$tmp/prefix-files"
diff -u "$tmp/files" "$tmp/prefix-files" || fail "cmake --install installs other files than the .deb"
prefix_unit=$prefix/lib/systemd/system/harvest-serve.service
grep -qxF "ExecStart=$prefix/bin/harvest serve --config /etc/harvest/serve.yaml" "$prefix_unit" ||
    fail "the unit of cmake --install --prefix does not start $prefix/bin/harvest"
"$prefix/bin/harvest" --version >/dev/null || fail "$prefix/bin/harvest --version"
if command -v systemd-analyze >/dev/null 2>&1; then
    systemd-analyze verify --man=no "$prefix_unit" || fail "systemd-analyze verify $prefix_unit"
fi

if ((failures > 0)); then
    echo "package_test: $failures failures" >&2
    exit 1
fi
echo "package_test: ok"
