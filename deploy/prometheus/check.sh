#!/usr/bin/env bash
# Checks the alert rules and the example Prometheus configuration with
# promtool (Debian package "prometheus", Prometheus 2.42 syntax) and runs the
# alert unit tests. Exits non-zero on the first problem.
set -euo pipefail
cd "$(dirname "$0")"

if ! command -v promtool >/dev/null; then
	echo "check.sh: promtool not found; install Debian's prometheus package" >&2
	exit 1
fi

promtool check rules alerts.yml
promtool test rules alerts_test.yml
# The example configuration names rule files by the path they have in the
# compose stack; check it from a copy whose rule path points here.
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
sed "s|/etc/prometheus/listprobe/alerts.yml|$PWD/alerts.yml|" prometheus.yml >"$tmp/prometheus.yml"
promtool check config "$tmp/prometheus.yml"
