#!/usr/bin/env bash
# Builds the Debian package and tries it on this machine, as root: install
# with dpkg -i, check what it installed (binary and its version, the unit,
# the system user, the conffile, the service neither enabled nor started),
# then purge and check that nothing is left. For CI (a throw-away machine);
# refuses to touch a listprobe that it did not install.
set -euo pipefail
cd "$(dirname "$0")/../.."
fail() { echo "package/check.sh: $*" >&2; exit 1; }
[ "$(id -u)" = 0 ] || fail "must run as root (dpkg -i)"
if dpkg-query -W listprobe >/dev/null 2>&1 || [ -e /usr/bin/listprobe ] || getent passwd listprobe >/dev/null; then
	fail "listprobe is already installed here (package, /usr/bin/listprobe or user); not touching it"
fi

deb=$(go -C tools run ./debpackage "$@")
echo "built $deb"
case "$(basename "$deb")" in
listprobe_*_amd64.deb) ;;
*) fail "unexpected package name $deb" ;;
esac
purged=
trap '[ -n "$purged" ] || dpkg --purge listprobe >/dev/null 2>&1 || true' EXIT

dpkg -i "$deb"
files=$(dpkg-query -L listprobe)

# The version the package carries is the one the binary reports.
listprobe version
want=$(dpkg-deb -f "$deb" Version)
if git rev-parse HEAD >/dev/null 2>&1 && [ "$(git rev-parse --absolute-git-dir)" = "$(git rev-parse --path-format=absolute --git-common-dir)" ]; then
	rev=$(git rev-parse HEAD)
	listprobe version | head -1 | grep -q "(revision: $rev" || fail "listprobe version does not name the commit $rev"
	case "$want" in *"${rev:0:12}"* | [0-9]*.[0-9]*.[0-9]*) ;; *) fail "package version $want names neither the commit nor a release" ;; esac
fi

[ "$(dpkg-query -W -f='${Conffiles}' listprobe | awk 'NF {print $1}')" = /etc/listprobe/listprobe.yml ] ||
	fail "conffiles are not exactly /etc/listprobe/listprobe.yml"
getent passwd listprobe >/dev/null || fail "no system user listprobe"
[ "$(getent passwd listprobe | cut -d: -f7)" = /usr/sbin/nologin ] || fail "user listprobe has a login shell"
[ "$(stat -c %a /etc/listprobe/secrets)" = 700 ] || fail "/etc/listprobe/secrets is not 0700"
unit=/usr/lib/systemd/system/listprobe.service
[ -f "$unit" ] || fail "no $unit"
out=$(systemd-analyze verify "$unit" 2>&1) || fail "systemd-analyze verify $unit: $out"
[ -z "$out" ] || fail "systemd-analyze verify $unit printed: $out"
echo "systemd-analyze verify $unit: no output"
systemd-analyze security --offline=true --threshold=15 --no-pager "$unit" | tail -1
# Installed, not enabled, not started.
if compgen -G "/etc/systemd/system/*.wants/listprobe.service" >/dev/null; then fail "the package enabled the service"; fi
if [ -d /run/systemd/system ] && systemctl is-active --quiet listprobe.service; then fail "the package started the service"; fi

dpkg --purge listprobe
purged=1
! dpkg-query -W listprobe >/dev/null 2>&1 || fail "still known to dpkg after purge"
for f in $files; do
	case "$f" in
	/. | /etc | /usr | /usr/bin | /usr/lib | /usr/lib/systemd | /usr/lib/systemd/system | /usr/lib/sysusers.d) continue ;;
	esac
	[ ! -e "$f" ] || fail "$f is left after purge"
done
! getent passwd listprobe >/dev/null || fail "user listprobe is left after purge"
! getent group listprobe >/dev/null || fail "group listprobe is left after purge"
echo "package/check.sh: installed, checked and purged $(basename "$deb")"
