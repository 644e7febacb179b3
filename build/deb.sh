#!/bin/sh
# `make deb`: the libapache2-mod-aiproxy package, built with Debian's own tooling
# (dpkg-buildpackage, debhelper, dh_apache2 from apache2-dev) from a clean copy of the tracked
# files, so the working tree's out/ and untracked files never end up in it.
#
#   build/deb.sh        -> out/deb/libapache2-mod-aiproxy_VERSION_ARCH.deb
set -eu
cd "$(dirname "$0")/.."
version=$(dpkg-parsechangelog -S Version)
work=out/deb
src="$work/libapache2-mod-aiproxy-$version"
rm -rf "$work"
mkdir -p "$src"
if git rev-parse --is-inside-work-tree >/dev/null 2>&1; then
    # the files git tracks or would (not ignored), as they are in the working tree
    git ls-files -z --cached --others --exclude-standard | xargs -0 tar cf - | tar xf - -C "$src"
else
    tar cf - --exclude=./out . | tar xf - -C "$src"
fi
(cd "$src" && dpkg-buildpackage -us -uc -b) > "$work/build.log" 2>&1 || {
    tail -40 "$work/build.log" >&2
    echo "deb: dpkg-buildpackage failed (whole log: $work/build.log)" >&2
    exit 1
}
ls "$work"/*.deb
