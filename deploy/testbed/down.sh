#!/bin/bash
# down.sh stops what up.sh started: Sympa's daemons and web interface, Mailman, Postfix,
# Dovecot, rspamd, OpenDKIM and NSD, each by the pid file it writes, never by process name. mlmmj has
# no daemon (Postfix runs it per message). Packages, mailboxes, secrets,
# lists and the databases stay, so the next up.sh is fast.
set -euo pipefail

STATE=${LISTPROBE_TESTBED_STATE:-/var/lib/listprobe-testbed}
RUN=${LISTPROBE_TESTBED_RUN:-/run/listprobe-testbed}

say() { printf 'testbed: %s\n' "$*" >&2; }

# stop NAME PIDFILE PROGRAM: send TERM to the pid in PIDFILE, if that
# process runs PROGRAM (a stale pid file must not make us kill whatever
# reused the pid), and wait for it to go.
stop() {
	local name=$1 pidfile=$2 want=$3 pid i
	[ -s "$pidfile" ] || return 0
	pid=$(tr -d ' \n' <"$pidfile")
	case $pid in '' | *[!0-9]*) say "$pidfile holds no pid"; return 0 ;; esac
	if ! tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -qF "$want"; then
		rm -f "$pidfile"
		return 0
	fi
	say "stopping $name (pid $pid)"
	kill -TERM "$pid"
	for i in $(seq 1 300); do
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	if kill -0 "$pid" 2>/dev/null; then
		say "$name (pid $pid) did not stop within 30s"
		return 1
	fi
	rm -f "$pidfile"
}

# The env file says "the testbed is up": remove it first, so tests skip
# instead of talking to half-stopped servers.
rm -f "$RUN/env"
rc=0
for d in sympa_msg bulk archived bounced task_manager; do
	stop "sympa $d" "/run/sympa/$d.pid" "/usr/lib/sympa/bin/$d.pl" || rc=1
done
"$(dirname "${BASH_SOURCE[0]}")/hyperkitty.sh" stop || rc=1
"$(dirname "${BASH_SOURCE[0]}")/sympa-web.sh" stop || rc=1
stop mailman "$RUN/mailman/master.pid" /usr/lib/mailman3/bin/master || rc=1
stop postfix "$RUN/postfix.pid" /usr/lib/postfix/sbin/master || rc=1
# A Postfix restarted since up.sh ran (the fault suite does "postfix start")
# has a new pid, which Postfix's own pid file names.
stop postfix /var/spool/postfix/pid/master.pid /usr/lib/postfix/sbin/master || rc=1
stop dovecot "$RUN/dovecot/master.pid" /usr/sbin/dovecot || rc=1
# The spam filter, the DKIM signer and the DNS server (spam.sh, dkim.sh, dns.sh).
stop rspamd "$RUN/rspamd/rspamd.pid" rspamd || rc=1
stop opendkim "$RUN/opendkim.pid" /usr/sbin/opendkim || rc=1
stop nsd "$RUN/nsd.pid" "nsd -c $STATE/dns/nsd.conf" || rc=1
exit $rc
