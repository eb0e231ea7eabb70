#!/bin/bash
# hyperkitty.sh: the testbed's HyperKitty, Mailman 3's web archive. up.sh
# sources it (configure_hyperkitty, start_hyperkitty, write_hyperkitty_env);
# down.sh and the fault tests run it: hyperkitty.sh stop | start | restart
# [--key-file FILE]. See README.md ("HyperKitty").
#
# Debian 12's mailman3-web Django project (/usr/share/mailman3-web) with a
# settings module of the testbed's own (listprobe_settings.py: Debian's
# settings.py without /etc/mailman3/mailman-web.py, which is neither read
# nor changed): SQLite under $STATE/hyperkitty, served by Django's runserver
# (threaded, no reloader) on
# 127.0.0.1:8010 as www-data, started without systemd and stopped by its pid
# file. Mailman's archiver (mailman-hyperkitty, [archiver.hyperkitty] in
# mailman.cfg.in) posts each list's mail to it with the shared API key.
. "$(dirname "${BASH_SOURCE[0]}")/pidfile.sh"

HK_PORT=${HK_PORT:-8010}
HK_URL=http://127.0.0.1:$HK_PORT/hyperkitty/
HK_DIR=$STATE/hyperkitty
HK_PIDFILE=$RUN/hyperkitty.pid
HK_PROJECT=/usr/share/mailman3-web
# The archiver's configuration file (mailman.cfg.in names it).
HK_MAILMAN_CFG=$STATE/mailman/mailman-hyperkitty.cfg

# configure_hyperkitty writes HyperKitty's settings and Mailman's archiver
# configuration, both from the shared key in secrets/hyperkitty-archiver.
configure_hyperkitty() {
	mkdir -p "$HK_DIR" "$RUN" "$STATE/mailman"
	chown www-data:www-data "$HK_DIR"
	local key django rest
	key=$(secret hyperkitty-archiver)
	django=$(secret hyperkitty-django)
	rest=$(secret mailman-rest)
	(umask 027 && printf '%s\n' "$key" | write_if_changed "$HK_DIR/archiver-key")
	(umask 027 && write_if_changed "$HK_DIR/listprobe_settings.py" <<-EOF
		# HyperKitty for the listprobe testbed (written by deploy/testbed/hyperkitty.sh):
		# Debian's /usr/share/mailman3-web/settings.py without its settings_local
		# (/etc/mailman3/mailman-web.py, neither read nor changed), then these.
		import os, sys, types
		sys.modules['settings_local'] = types.ModuleType('settings_local')
		from settings import *
		SECRET_KEY = '$django'
		DEBUG = False
		ALLOWED_HOSTS = ['127.0.0.1', 'localhost']
		MAILMAN_REST_API_URL = 'http://127.0.0.1:$REST_PORT'
		MAILMAN_REST_API_USER = '$REST_USER'
		MAILMAN_REST_API_PASS = '$rest'
		# hyperkitty.sh restart --key-file FILE starts it with another key (the
		# fault tests' "wrong API key").
		with open(os.environ.get('LISTPROBE_HYPERKITTY_KEY_FILE', '$HK_DIR/archiver-key')) as f:
		    MAILMAN_ARCHIVER_KEY = f.read().strip()
		MAILMAN_ARCHIVER_FROM = ('127.0.0.1', '::1')
		DATABASES = {'default': {'ENGINE': 'django.db.backends.sqlite3', 'NAME': '$HK_DIR/hyperkitty.db',
		                         'OPTIONS': {'timeout': 30}}}
		STATIC_ROOT = '$HK_DIR/static'
		HAYSTACK_CONNECTIONS = {'default': {'ENGINE': 'haystack.backends.whoosh_backend.WhooshEngine',
		                                    'PATH': '$HK_DIR/fulltext_index'}}
		EMAILNAME = '$LIST_DOMAIN'
		HOSTNAME = '$MTA_HOSTNAME'
		EMAIL_HOST = '127.0.0.1'
		LOGGING = {'version': 1, 'disable_existing_loggers': False,
		           'handlers': {'file': {'class': 'logging.FileHandler', 'filename': '$LOG/hyperkitty.log'}},
		           'root': {'handlers': ['file'], 'level': 'INFO'}}
	EOF
	)
	chgrp www-data "$HK_DIR/archiver-key" "$HK_DIR/listprobe_settings.py"
	touch "$LOG/hyperkitty.log"
	chown www-data "$LOG/hyperkitty.log"
	(umask 027 && write_if_changed "$HK_MAILMAN_CFG" <<-EOF
		# mailman-hyperkitty for the listprobe testbed (written by deploy/testbed/hyperkitty.sh).
		[general]
		base_url: $HK_URL
		api_key: $key
	EOF
	)
	chgrp list "$HK_MAILMAN_CFG"
	# Mailman's archiver reads its file when a runner starts: a new key
	# restarts Mailman (start_mailman restarts when mailman.cfg is newer).
	if [ -e "$RUN/mailman/master.pid" ] && [ "$HK_MAILMAN_CFG" -nt "$RUN/mailman/master.pid" ]; then
		touch "$MAILMAN_CFG"
	fi
}

# patch_mailman_archivers: Mailman 3.3.8 keeps a row per list and archiver
# in its database, made by any runner whose configuration has the archiver,
# and a runner whose configuration lacks it raises "Archiver not found" on
# every post of those lists, which are then shunted. The testbed is shared
# by worktrees, and an up.sh of a branch without [archiver.hyperkitty]
# would restart Mailman that way: with this patch, the rows of an archiver
# the configuration does not name are skipped (no archiving there, as
# Mailman does for a disabled one). The original is kept (.orig).
patch_mailman_archivers() {
	local f=/usr/lib/python3/dist-packages/mailman/model/mailinglist.py
	sed -n '/^class ListArchiverSet/,/^@public/p' "$f" 2>/dev/null | grep -q '^        yield from entries$' || return 0
	say "patching Mailman's archiver rows (see patch_mailman_archivers in hyperkitty.sh)"
	[ -e "$f.orig" ] || cp -p "$f" "$f.orig"
	sed -i '/^class ListArchiverSet/,/^@public/ s/^        yield from entries$/        yield from (e for e in entries if e.name in {a.name for a in config.archivers})  # listprobe testbed: see hyperkitty.sh/' "$f"
	rm -rf /usr/lib/python3/dist-packages/mailman/model/__pycache__/mailinglist.*
	touch "$MAILMAN_CFG"
}

# hk_manage ARGS...: HyperKitty's manage.py as www-data with the testbed's
# settings.
hk_manage() {
	(cd "$HK_DIR" && PYTHONPATH=$HK_DIR:$HK_PROJECT DJANGO_SETTINGS_MODULE=listprobe_settings \
		setpriv --reuid=www-data --regid=www-data --init-groups /usr/bin/python3 "$HK_PROJECT/manage.py" "$@")
}

hk_alive() { pidfile_alive "$HK_PIDFILE" "runserver --noreload 127.0.0.1:$HK_PORT"; }

stop_hyperkitty() { pidfile_stop "hyperkitty" "$HK_PIDFILE" "runserver --noreload 127.0.0.1:$HK_PORT"; }

# start_hyperkitty migrates the database when the packages changed (once
# cold: about 20 s) and starts the server unless it runs with the current
# settings.
start_hyperkitty() {
	local stamp=$HK_DIR/migrated conf="$HK_DIR/listprobe_settings.py $HK_DIR/archiver-key"
	local versions
	versions=$(dpkg-query -W -f='${Version} ' mailman3-web python3-django-hyperkitty python3-django-postorius python3-django-mailman3 python3-django 2>/dev/null)
	if [ "$(cat "$stamp" 2>/dev/null)" != "$versions" ]; then
		say "migrating hyperkitty's database"
		hk_manage migrate --noinput >>"$LOG/hyperkitty-migrate.log" 2>&1 ||
			die "hyperkitty's migrate failed, see $LOG/hyperkitty-migrate.log"
		echo "$versions" >"$stamp"
	fi
	if hk_alive && ! changed hyperkitty $conf && [ -z "${HK_KEY_FILE:-}" ]; then
		:
	else
		hk_alive && { say "restarting hyperkitty"; stop_hyperkitty; }
		say "starting hyperkitty on 127.0.0.1:$HK_PORT"
		# setsid: its own session, so that a CI pipe does not wait for it;
		# the shell writes its pid and then becomes the server.
		LISTPROBE_HYPERKITTY_KEY_FILE=${HK_KEY_FILE:-$HK_DIR/archiver-key} \
			setsid sh -c 'echo $$ >"$1"; cd "$2" && exec setpriv --reuid=www-data --regid=www-data --init-groups env PYTHONPATH="$2:$3" DJANGO_SETTINGS_MODULE=listprobe_settings /usr/bin/python3 "$3/manage.py" runserver --noreload "127.0.0.1:$4"' \
			sh "$HK_PIDFILE" "$HK_DIR" "$HK_PROJECT" "$HK_PORT" </dev/null >>"$LOG/hyperkitty-server.log" 2>&1 &
	fi
	# Started with another key: the next up.sh puts the right one back.
	if [ -n "${HK_KEY_FILE:-}" ]; then echo override >"$RUN/hyperkitty.confsum"; else loaded hyperkitty $conf; fi
	local deadline=$((SECONDS + 60)) code=""
	while [ "$SECONDS" -lt "$deadline" ]; do
		code=$(curl -s -o /dev/null -w '%{http_code}' "${HK_URL}api/lists/" || true)
		[ "$code" = 200 ] && return 0
		hk_alive || sleep 0.2
		sleep 0.1
	done
	die "hyperkitty does not answer on ${HK_URL}api/lists/ (HTTP $code), see $LOG/hyperkitty-server.log and $LOG/hyperkitty.log"
}

# verify_archive MESSAGE-ID LIST: the post is in LIST's HyperKitty archive
# within 30 s, looked up as listprobe does (the Message-ID's hash).
verify_archive() {
	local id=$1 list=$2 hash url code deadline=$((SECONDS + 30))
	id=${id#<}
	id=${id%>}
	hash=$(printf '%s' "$id" | openssl sha1 -binary | base32)
	url=${HK_URL}api/list/$list/email/$hash/
	while [ "$SECONDS" -lt "$deadline" ]; do
		code=$(curl -s -o /dev/null -w '%{http_code}' "$url" || true)
		[ "$code" = 200 ] && return 0
		sleep 0.2
	done
	printf 'testbed: HyperKitty did not archive <%s> in %s within 30s (%s: HTTP %s); what Mailman logged:\n' "$id" "$list" "$url" "$code" >&2
	grep -iE 'hyperkitty|archiv' /var/log/mailman3/mailman.log | tail -n 5 >&2 || true
	return 1
}

# write_hyperkitty_env prints the env file's lines for HyperKitty.
write_hyperkitty_env() {
	echo "LISTPROBE_TESTBED_HYPERKITTY_URL=$HK_URL"
	echo "LISTPROBE_TESTBED_HYPERKITTY_API_KEY_FILE=$SECRETS/hyperkitty-archiver"
	echo "LISTPROBE_TESTBED_HYPERKITTY_CTL=$STATE/bin/hyperkitty.sh"
}

# Run as a program (down.sh, the fault tests): stop, start or restart.
if [ "${BASH_SOURCE[0]}" = "$0" ]; then
	set -euo pipefail
	STATE=${LISTPROBE_TESTBED_STATE:-/var/lib/listprobe-testbed}
	RUN=${LISTPROBE_TESTBED_RUN:-/run/listprobe-testbed}
	LOG=$STATE/log
	HK_DIR=$STATE/hyperkitty HK_PIDFILE=$RUN/hyperkitty.pid
	say() { printf 'testbed: %s\n' "$*" >&2; }
	die() { printf 'testbed: error: %s\n' "$*" >&2; exit 1; }
	changed() { local n=$1; shift; [ "$(cat "$RUN/$n.confsum" 2>/dev/null)" != "$(cat "$@" | sha256sum | cut -d' ' -f1)" ]; }
	loaded() { local n=$1; shift; cat "$@" | sha256sum | cut -d' ' -f1 >"$RUN/$n.confsum"; }
	[ "$(id -u)" = 0 ] || die "must run as root"
	case ${1:-} in
	stop) stop_hyperkitty ;;
	start) start_hyperkitty ;;
	restart)
		HK_KEY_FILE=""
		[ "${2:-}" = --key-file ] && HK_KEY_FILE=${3:?--key-file needs a file}
		[ -z "$HK_KEY_FILE" ] || [ -r "$HK_KEY_FILE" ] || die "cannot read $HK_KEY_FILE"
		stop_hyperkitty
		if [ -n "$HK_KEY_FILE" ]; then
			# Readable by www-data, whatever the caller's file is.
			install -m 640 -g www-data "$HK_KEY_FILE" "$HK_DIR/override-key"
			HK_KEY_FILE=$HK_DIR/override-key
		fi
		start_hyperkitty
		;;
	*) die "usage: hyperkitty.sh stop | start | restart [--key-file FILE]" ;;
	esac
fi
