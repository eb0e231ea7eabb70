#!/bin/bash
# sympa-web.sh: the testbed's Sympa web interface, whose archive pages
# listprobe reads. up.sh sources it (configure_sympa_web, start_sympa_web,
# verify_sympa_archive, write_sympa_web_env); down.sh and the fault tests run
# it: sympa-web.sh stop | start, and sympa-web.sh archived stop | start for
# Sympa's archive daemon alone (the fault tests). See README.md ("Sympa's
# web archive").
#
# Debian 12's wwsympa.fcgi (Sympa 6.2.70) run as a plain CGI (it serves one
# request and exits when not under FastCGI) by lighttpd on 127.0.0.1:8020,
# both as the sympa user, started without systemd and stopped by its pid
# file. wwsympa reads a copy of the testbed's sympa.conf (SYMPA_CONFIG) whose
# wwsympa_url is this loopback address, so that Sympa finds its robot from
# the request and its links and redirects point here; the daemons keep
# /etc/sympa/sympa/sympa.conf, so starting the web interface restarts
# nothing. The archive itself is written by Sympa's archived.pl (one of
# SYMPA_DAEMONS in up.sh) into /var/lib/sympa/arc.
. "$(dirname "${BASH_SOURCE[0]}")/pidfile.sh"

SW_PORT=${SW_PORT:-8020}
SW_URL=http://127.0.0.1:$SW_PORT/wws
SW_DIR=$STATE/sympa-web
SW_CONF=$SW_DIR/sympa.conf
SW_LIGHTTPD=$SW_DIR/lighttpd.conf
SW_PIDFILE=$RUN/sympa-web.pid
SW_CGI=/usr/lib/cgi-bin/sympa/wwsympa.fcgi

# configure_sympa_web writes wwsympa's config copy and lighttpd's
# configuration.
configure_sympa_web() {
	mkdir -p "$SW_DIR/htdocs" "$RUN"
	chown sympa:sympa "$SW_DIR"
	# The daemons' sympa.conf (configure_sympa wrote it), with this server's
	# URL instead of theirs.
	(umask 027 && {
		echo "# wwsympa's copy of /etc/sympa/sympa/sympa.conf (written by deploy/testbed/sympa-web.sh)"
		grep -v '^wwsympa_url[[:space:]]' /etc/sympa/sympa/sympa.conf
		printf 'wwsympa_url\t%s\n' "$SW_URL"
	} | write_if_changed "$SW_CONF")
	chgrp sympa "$SW_CONF"
	touch "$LOG/sympa-web-error.log" "$LOG/sympa-web-access.log" "$LOG/sympa-web-cgi.log"
	chown sympa "$LOG/sympa-web-error.log" "$LOG/sympa-web-access.log" "$LOG/sympa-web-cgi.log"
	write_if_changed "$SW_LIGHTTPD" <<-EOF
		# lighttpd for the listprobe testbed's Sympa web interface (written by
		# deploy/testbed/sympa-web.sh). Runs as sympa; wwsympa.fcgi is a CGI.
		server.modules = ("mod_access", "mod_alias", "mod_setenv", "mod_cgi", "mod_accesslog")
		server.bind = "127.0.0.1"
		server.port = $SW_PORT
		server.document-root = "$SW_DIR/htdocs"
		server.errorlog = "$LOG/sympa-web-error.log"
		server.breakagelog = "$LOG/sympa-web-cgi.log"
		accesslog.filename = "$LOG/sympa-web-access.log"
		server.max-request-size = 1024
		alias.url = (
		    "/static-sympa/" => "/usr/share/sympa/static_content/",
		    "/css-sympa/" => "/var/lib/sympa/css/",
		    "/pictures-sympa/" => "/var/lib/sympa/pictures/",
		    "/wws" => "$SW_CGI",
		)
		\$HTTP["url"] =~ "^/wws(/|\$)" {
		    cgi.assign = ("" => "")
		    setenv.add-environment = ("SYMPA_CONFIG" => "$SW_CONF")
		}
	EOF
}

sw_alive() { pidfile_alive "$SW_PIDFILE" "lighttpd -D -f $SW_LIGHTTPD"; }

stop_sympa_web() { pidfile_stop "sympa web" "$SW_PIDFILE" "lighttpd -D -f $SW_LIGHTTPD"; }

# start_sympa_web starts lighttpd unless it runs with the current files,
# then waits until wwsympa answers (each request starts Perl and loads
# Sympa: a second or two).
start_sympa_web() {
	local conf="$SW_CONF $SW_LIGHTTPD"
	if ! sw_alive || changed sympa-web $conf; then
		sw_alive && { say "restarting sympa's web interface"; stop_sympa_web; }
		say "starting sympa's web interface on $SW_URL"
		# setsid: its own session, so that a CI pipe does not wait for it;
		# the shell writes its pid and then becomes the server.
		setsid sh -c 'echo $$ >"$1"; exec setpriv --reuid=sympa --regid=sympa --init-groups /usr/sbin/lighttpd -D -f "$2"' \
			sh "$SW_PIDFILE" "$SW_LIGHTTPD" </dev/null >>"$LOG/sympa-web-error.log" 2>&1 &
	fi
	loaded sympa-web $conf
	local deadline=$((SECONDS + 60)) code=""
	while [ "$SECONDS" -lt "$deadline" ]; do
		code=$(curl -s -o /dev/null --max-time 30 -w '%{http_code}' "$SW_URL/lists" || true)
		[ "$code" = 200 ] && return 0
		sleep 0.2
	done
	die "sympa's web interface does not answer on $SW_URL/lists (HTTP $code), see $LOG/sympa-web-error.log and $LOG/sympa-web-cgi.log"
}

# sw_arcsearch ID LIST COOKIES: ask wwsympa's arcsearch_id for ID in this
# month's archive of LIST (name@domain) as listprobe does: GET, then, if
# Sympa answers with its "I am not a spammer" form, POST it once with the
# session cookie. Prints the Location of Sympa's answer (a message page when
# it found the post).
sw_arcsearch() {
	local id=$1 name=${2%@*} jar=$3 month url out
	month=$(date -u +%Y-%m)
	url=$SW_URL/arcsearch_id/$name/$month/$id
	out=$(curl -s -c "$jar" -b "$jar" --max-time 30 -D - -o "$jar.body" "$url" || true)
	if grep -q 'name="response_action_confirm"' "$jar.body" 2>/dev/null; then
		out=$(curl -s -c "$jar" -b "$jar" --max-time 30 -D - -o /dev/null "$SW_URL" \
			--data-urlencode action=arcsearch_id --data-urlencode "list=$name" \
			--data-urlencode "archive_name=$month" --data-urlencode "msgid=$id" \
			--data-urlencode "response_action_confirm=x" || true)
	fi
	printf '%s\n' "$out" | sed -n 's/^[Ll]ocation: *\([^[:space:]]*\).*/\1/p'
}

# verify_sympa_archive MESSAGE-ID LIST: the post is in LIST's Sympa web
# archive within 30 s (archived.pl writes it; wwsympa finds it by its id).
verify_sympa_archive() {
	local id=$1 list=$2 jar loc="" deadline=$((SECONDS + 30))
	id=${id#<}
	id=${id%>}
	jar=$(mktemp)
	while [ "$SECONDS" -lt "$deadline" ]; do
		loc=$(sw_arcsearch "$id" "$list" "$jar")
		case $loc in */arc/"${list%@*}"/*/msg[0-9]*.html) rm -f "$jar" "$jar.body"; return 0 ;; esac
		sleep 1
	done
	rm -f "$jar" "$jar.body"
	printf 'testbed: Sympa did not archive <%s> in %s within 30s (arcsearch_id answered %s); see %s and %s\n' \
		"$id" "$list" "${loc:-no redirect}" "$LOG/sympa-archived.log" "$LOG/sympa-web-cgi.log" >&2
	return 1
}

# sympa_archived stop | start: Sympa's archive daemon (archived.pl, which
# up.sh's start_sympa starts with the others), by its pid file. While it is
# stopped, posts wait in Sympa's archive spool (/var/spool/sympa/outgoing)
# and are archived once it runs again.
SW_ARCHIVED=/usr/lib/sympa/bin/archived.pl
SW_ARCHIVED_PID=/run/sympa/archived.pid
sw_archived_alive() {
	local pid
	[ -s "$SW_ARCHIVED_PID" ] || return 1
	pid=$(tr -d ' \n' <"$SW_ARCHIVED_PID")
	case $pid in '' | *[!0-9]*) return 1 ;; esac
	tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -qF "$SW_ARCHIVED"
}
sympa_archived() {
	local pid i
	case $1 in
	stop)
		sw_archived_alive || return 0
		pid=$(tr -d ' \n' <"$SW_ARCHIVED_PID")
		kill -TERM "$pid"
		for i in $(seq 1 300); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
		! kill -0 "$pid" 2>/dev/null || die "sympa archived ($pid) did not stop within 30s"
		;;
	start)
		sw_archived_alive && return 0
		setsid runuser -u sympa -- "$SW_ARCHIVED" --foreground </dev/null >>"$LOG/sympa-archived.log" 2>&1 &
		for i in $(seq 1 300); do sw_archived_alive && return 0; sleep 0.1; done
		die "sympa archived did not start, see $LOG/sympa-archived.log"
		;;
	esac
}

# write_sympa_web_env prints the env file's lines for Sympa's web interface.
write_sympa_web_env() {
	echo "LISTPROBE_TESTBED_SYMPA_WEB_URL=$SW_URL"
	echo "LISTPROBE_TESTBED_SYMPA_WEB_CTL=$STATE/bin/sympa-web.sh"
	echo "LISTPROBE_TESTBED_SYMPA_ARCHIVE_DIR=/var/lib/sympa/arc"
}

# Run as a program (down.sh, the fault tests): stop or start.
if [ "${BASH_SOURCE[0]}" = "$0" ]; then
	set -euo pipefail
	STATE=${LISTPROBE_TESTBED_STATE:-/var/lib/listprobe-testbed}
	RUN=${LISTPROBE_TESTBED_RUN:-/run/listprobe-testbed}
	LOG=$STATE/log
	SW_DIR=$STATE/sympa-web SW_CONF=$STATE/sympa-web/sympa.conf
	SW_LIGHTTPD=$STATE/sympa-web/lighttpd.conf SW_PIDFILE=$RUN/sympa-web.pid
	say() { printf 'testbed: %s\n' "$*" >&2; }
	die() { printf 'testbed: error: %s\n' "$*" >&2; exit 1; }
	changed() { local n=$1; shift; [ "$(cat "$RUN/$n.confsum" 2>/dev/null)" != "$(cat "$@" | sha256sum | cut -d' ' -f1)" ]; }
	loaded() { local n=$1; shift; cat "$@" | sha256sum | cut -d' ' -f1 >"$RUN/$n.confsum"; }
	[ "$(id -u)" = 0 ] || die "must run as root"
	case ${1:-} in
	stop) stop_sympa_web ;;
	start) start_sympa_web ;;
	archived)
		case ${2:-} in stop | start) sympa_archived "$2" ;; *) die "usage: sympa-web.sh archived stop | start" ;; esac
		;;
	*) die "usage: sympa-web.sh stop | start | archived stop | start" ;;
	esac
fi
