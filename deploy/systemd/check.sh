#!/usr/bin/env bash
# Checks listprobe.service: `systemd-analyze verify` must print nothing, and
# `systemd-analyze security --offline=true` prints the exposure score.
# Without an installed /usr/bin/listprobe, verify runs on a copy whose
# ExecStart names an existing binary (verify checks that it exists); every
# other line is the unit as shipped.
set -euo pipefail
cd "$(dirname "$0")"

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
unit="$tmp/listprobe.service"
if [ -x /usr/bin/listprobe ]; then
	cp listprobe.service "$unit"
else
	sed "s|^ExecStart=/usr/bin/listprobe |ExecStart=$(command -v true) |" listprobe.service >"$unit"
fi

out=$(systemd-analyze verify "$unit" 2>&1) || {
	echo "$out" >&2
	echo "check.sh: systemd-analyze verify failed" >&2
	exit 1
}
if [ -n "$out" ]; then
	echo "$out" >&2
	echo "check.sh: systemd-analyze verify printed warnings" >&2
	exit 1
fi
echo "systemd-analyze verify: no output"

# Fails when the exposure rises above 1.5 (scale 0-10; 1.1 with systemd 252).
systemd-analyze security --offline=true --threshold=15 --no-pager "$unit"
