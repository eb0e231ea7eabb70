#!/usr/bin/env bash
# Builds the Debian package and tries it on this machine, as root, by the
# README's "Debian and Ubuntu" steps as printed (build, dpkg -i, write the
# secrets, check-config says valid), checks what it installed (binary and
# its version, the unit, the system user, the conffiles, the secrets' modes,
# the service neither enabled nor started), then purges it and checks that
# nothing is left, the secrets included, and that dpkg did not warn. For CI (a throw-away machine);
# refuses to touch a listprobe that it did not install.
set -euo pipefail
cd "$(dirname "$0")/../.."
fail() { echo "package/check.sh: $*" >&2; exit 1; }
[ "$(id -u)" = 0 ] || fail "must run as root (dpkg -i)"
if dpkg-query -W listprobe >/dev/null 2>&1 || [ -e /usr/bin/listprobe ] || getent passwd listprobe >/dev/null; then
	fail "listprobe is already installed here (package, /usr/bin/listprobe or user); not touching it"
fi

# The README's "Debian and Ubuntu" steps, as printed (as root, so without
# sudo), except those that need a person or a running systemd: sudoedit
# (the example config stays), systemctl enable --now (it would probe the
# example.org servers), journalctl.
readme_steps=$(awk '/^```/ { if (inblock && block ~ /dpkg -i/) { printf "%s", block; exit } inblock = /^```sh$/; block = ""; next } inblock { block = block $0 "\n" }' README.md)
case "$readme_steps" in *"go -C tools run ./debpackage"*"dpkg -i"*"check-config"*) ;; *) fail "README.md has no sh block with the package's steps" ;; esac
rm -f dist/listprobe_*_amd64.deb # the README's dpkg -i takes whatever dist/ holds
purged=
trap '[ -n "$purged" ] || dpkg --purge listprobe >/dev/null 2>&1 || true' EXIT
check_out=
while IFS= read -r step; do
	case "$step" in
	"" | "sudoedit "* | "sudo systemctl "* | "journalctl "*) echo "README step not run here: $step"; continue ;;
	esac
	echo "README step: $step"
	out=$(bash -euo pipefail -c "${step//sudo /}") || fail "README step failed: $step"
	[ -z "$out" ] || echo "$out"
	case "$step" in *check-config*) check_out=$out ;; esac
done <<<"$readme_steps"
case "$check_out" in *": valid: "*) ;; *) fail "the README's check-config on the packaged config did not say valid: $check_out" ;; esac
deb=$(ls dist/listprobe_*_amd64.deb)
echo "built and installed $deb"
files=$(dpkg-query -L listprobe)
for f in signing_key member_password reader_password mailman_password; do
	[ "$(stat -c %a /etc/listprobe/secrets/$f)" = 600 ] || fail "/etc/listprobe/secrets/$f is not 0600 after the README's steps"
done

# The version the package carries is the one the binary reports.
listprobe version
want=$(dpkg-deb -f "$deb" Version)
if git rev-parse HEAD >/dev/null 2>&1 && [ "$(git rev-parse --absolute-git-dir)" = "$(git rev-parse --path-format=absolute --git-common-dir)" ]; then
	rev=$(git rev-parse HEAD)
	# Read whole first: grep -q would leave a pipe that SIGPIPEs under pipefail.
	version=$(listprobe version)
	grep -q "(revision: $rev" <<<"${version%%$'\n'*}" || fail "listprobe version does not name the commit $rev: $version"
	case "$want" in *"${rev:0:12}"* | [0-9]*.[0-9]*.[0-9]*) ;; *) fail "package version $want names neither the commit nor a release" ;; esac
fi

[ "$(dpkg-query -W -f='${Conffiles}' listprobe | awk 'NF {print $1}' | sort | tr '\n' ' ')" = "/etc/default/listprobe /etc/listprobe/listprobe.yml " ] ||
	fail "conffiles are not exactly /etc/default/listprobe and /etc/listprobe/listprobe.yml"
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

purge_out=$(dpkg --purge listprobe 2>&1) || fail "dpkg --purge: $purge_out"
echo "$purge_out"
purged=1
case "$purge_out" in *warning*) fail "dpkg --purge warned: $purge_out" ;; esac
[ ! -e /etc/listprobe ] || fail "/etc/listprobe is left after purge: $(find /etc/listprobe)"
! dpkg-query -W listprobe >/dev/null 2>&1 || fail "still known to dpkg after purge"
for f in $files; do
	case "$f" in
	/. | /etc | /etc/default | /usr | /usr/bin | /usr/lib | /usr/lib/systemd | /usr/lib/systemd/system | /usr/lib/sysusers.d) continue ;;
	esac
	[ ! -e "$f" ] || fail "$f is left after purge"
done
! getent passwd listprobe >/dev/null || fail "user listprobe is left after purge"
! getent group listprobe >/dev/null || fail "group listprobe is left after purge"
echo "package/check.sh: installed, checked and purged $(basename "$deb")"
