# pidfile.sh is sourced by hyperkitty.sh and sympa-web.sh: the testbed's
# daemons that run without systemd, known by a pid file and their command
# line (a reused pid is never taken for the daemon).

# pidfile_alive FILE PATTERN: the pid in FILE runs a command line holding
# PATTERN.
pidfile_alive() {
	local pid
	[ -s "$1" ] || return 1
	pid=$(tr -d ' \n' <"$1")
	case $pid in '' | *[!0-9]*) return 1 ;; esac
	tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -qF "$2"
}

# pidfile_stop NAME FILE PATTERN: stops that daemon (TERM, at most 10 s)
# and removes FILE.
pidfile_stop() {
	local pid i
	pidfile_alive "$2" "$3" || { rm -f "$2"; return 0; }
	pid=$(tr -d ' \n' <"$2")
	kill -TERM "$pid"
	for i in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
	! kill -0 "$pid" 2>/dev/null || { say "$1 ($pid) did not stop within 10s"; return 1; }
	rm -f "$2"
}
