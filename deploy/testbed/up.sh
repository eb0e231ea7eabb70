#!/bin/bash
# up.sh brings up a real mailing-list stack on loopback for listprobe's
# end-to-end tests: Debian 12's Postfix, Dovecot, Mailman 3, Sympa and mlmmj,
# started without systemd. It is idempotent: a second run only checks that
# everything answers and that mail to every account is delivered. See
# README.md beside it.
#
# Everything listens on 127.0.0.1 only; nothing is relayed anywhere else
# (Postfix's default and relay transports are "error:", DNS is off).
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
STATE=${LISTPROBE_TESTBED_STATE:-/var/lib/listprobe-testbed}
RUN=${LISTPROBE_TESTBED_RUN:-/run/listprobe-testbed}
LOG=$STATE/log
SECRETS=$STATE/secrets

MAIL_DOMAIN=example.test
LIST_DOMAIN=lists.example.test
LIST_NAME=probe-test
LIST=$LIST_NAME@$LIST_DOMAIN
LIST_ID=$LIST_NAME.$LIST_DOMAIN
MTA_HOSTNAME=mail.example.test
SYMPA_DOMAIN=sympa.example.test
MLMMJ_DOMAIN=mlmmj.example.test
SYMPA_LIST=probe-test@$SYMPA_DOMAIN
MLMMJ_LIST=probe-test@$MLMMJ_DOMAIN
MLMMJ_SPOOL=/var/spool/mlmmj
SYMPA_DB=/var/lib/dbconfig-common/sqlite3/sympa/sympa
SYMPA_BIN=/usr/lib/sympa/bin
SYMPA_DAEMONS="sympa_msg bulk archived bounced task_manager"
# Accounts with a Dovecot mailbox. member posts, reader is a subscriber that
# only reads, moderator owns the list, outsider is not subscribed, listmaster
# is Mailman's site owner.
ACCOUNTS="member reader moderator outsider listmaster"
# Accounts in other domains, NAME=ADDRESS (NAME names the secret and the
# env variables): a second reader whose domain files spam by a stricter
# rule (spam.sh), and a poster whose domain publishes DMARC p=reject.
READER2_DOMAIN=other-reader.test
REJECT_DOMAIN=reject-poster.test
STRANGER_DOMAIN=stranger.test
OTHER_ACCOUNTS="reader2=reader@$READER2_DOMAIN reject-poster=poster@$REJECT_DOMAIN"
REST_PORT=8001
REST_USER=restadmin
MAILMAN_CFG=$STATE/mailman/mailman.cfg
PKGS="postfix dovecot-imapd dovecot-lmtpd mailman3 publicsuffix sympa dbconfig-sqlite3 mlmmj curl openssl sqlite3"
# DNS, DKIM signing, the hold table, the spam filter and Sieve (dns.sh, dkim.sh, spam.sh).
PKGS="$PKGS nsd opendkim postfix-sqlite rspamd dovecot-sieve"
# HyperKitty, Mailman's web archive, and Mailman's archiver for it (hyperkitty.sh).
PKGS="$PKGS mailman3-web python3-django-hyperkitty python3-mailman-hyperkitty"
# Sympa's web interface (its archive), wwsympa.fcgi as a CGI (sympa-web.sh).
PKGS="$PKGS lighttpd"

say() { printf 'testbed: %s\n' "$*" >&2; }
die() { printf 'testbed: error: %s\n' "$*" >&2; exit 1; }

[ "$(id -u)" = 0 ] || die "must run as root (it installs packages and starts daemons)"
START_TIME=$(date +%s.%N)
REWRITTEN=""
# The DNS server, the DKIM signer and the spam filter, in files of their own.
. "$HERE/dkim.sh"
. "$HERE/dns.sh"
. "$HERE/spam.sh"
. "$HERE/hyperkitty.sh"
. "$HERE/sympa-web.sh"

# --- packages ---------------------------------------------------------------

install_packages() {
	local missing=""
	for p in $PKGS; do
		dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
	done
	[ -z "$missing" ] && return 0
	say "installing$missing"
	export DEBIAN_FRONTEND=noninteractive
	debconf-set-selections <<-EOF
		postfix postfix/main_mailer_type select Local only
		postfix postfix/mailname string $MTA_HOSTNAME
		postfix postfix/relayhost string
		postfix postfix/destinations string
		mailman3 mailman3/dbconfig-install boolean false
		mailman3 mailman3/database-type select sqlite3
		sympa sympa/dbconfig-install boolean true
		sympa sympa/database-type select sqlite3
		sympa wwsympa/webserver_type select Other
		wwsympa wwsympa/webserver_type select Other
	EOF
	# Package scripts try to start the daemons through /etc/init.d; a
	# policy-rc.d that exits 101 keeps them down. Keep an existing one.
	local own_policy=""
	if [ ! -e /usr/sbin/policy-rc.d ]; then
		printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
		chmod 755 /usr/sbin/policy-rc.d
		own_policy=1
		# Do not leave it behind if the install is interrupted.
		trap 'rm -f /usr/sbin/policy-rc.d' EXIT
	fi
	local apt="apt-get install -y -q --no-install-recommends -o Dpkg::Options::=--force-confold"
	# apt-get update only when the package lists are missing or stale (the
	# install fails to fetch, or knows no candidate).
	if ! apt-cache show $missing >/dev/null 2>&1 || ! $apt $missing >"$LOG/apt.log" 2>&1; then
		say "apt-get update"
		apt-get update -q >>"$LOG/apt.log" 2>&1 || { [ -n "$own_policy" ] && rm -f /usr/sbin/policy-rc.d; die "apt-get update failed, see $LOG/apt.log"; }
		$apt $missing >>"$LOG/apt.log" 2>&1 || { [ -n "$own_policy" ] && rm -f /usr/sbin/policy-rc.d; die "apt-get install failed, see $LOG/apt.log"; }
	fi
	if [ -n "$own_policy" ]; then
		rm -f /usr/sbin/policy-rc.d
		trap - EXIT
	fi
	return 0
}

# --- secrets and certificate -------------------------------------------------

# secret NAME prints the password in $SECRETS/NAME, creating it once.
secret() {
	local f=$SECRETS/$1
	if [ ! -s "$f" ]; then
		(umask 077 && head -c 18 /dev/urandom | base64 | tr -d '/+=' >"$f")
	fi
	chmod 600 "$f"
	cat "$f"
}

# make_ca NAME CN: a CA of the testbed's own in $STATE/tls/NAME.pem (key in
# NAME-key.pem), made once.
make_ca() {
	local name=$1 cn=$2
	[ -s "$STATE/tls/$name.pem" ] && [ -s "$STATE/tls/$name-key.pem" ] && return 0
	(umask 077 && openssl req -x509 -newkey rsa:2048 -nodes -days 3650 -subj "/CN=$cn" \
		-addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" \
		-keyout "$STATE/tls/$name-key.pem" -out "$STATE/tls/$name.pem" >>"$LOG/openssl.log" 2>&1) ||
		die "making the $name certificate failed, see $LOG/openssl.log"
	chmod 644 "$STATE/tls/$name.pem"
}

# issue CA OUT: a certificate for mail.example.test and 127.0.0.1 signed by
# CA, in OUT.pem with its key in OUT-key.pem (or key.pem for "cert"),
# unless the one there already verifies against CA.
issue() {
	local ca=$1 out=$2 key
	key=$STATE/tls/$out-key.pem
	[ "$out" = cert ] && key=$STATE/tls/key.pem
	if [ -s "$STATE/tls/$out.pem" ] && [ -s "$key" ] &&
		openssl verify -CAfile "$STATE/tls/$ca.pem" "$STATE/tls/$out.pem" >/dev/null 2>&1; then
		return 0
	fi
	local ext=$STATE/tls/$out.ext
	printf 'subjectAltName=DNS:%s,DNS:localhost,IP:127.0.0.1\nbasicConstraints=CA:FALSE\nkeyUsage=digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\n' \
		"$MTA_HOSTNAME" >"$ext"
	(umask 077 && openssl req -new -newkey rsa:2048 -nodes -subj "/CN=$MTA_HOSTNAME" \
		-keyout "$key.new" -out "$STATE/tls/$out.csr" >>"$LOG/openssl.log" 2>&1 &&
		openssl x509 -req -in "$STATE/tls/$out.csr" -CA "$STATE/tls/$ca.pem" -CAkey "$STATE/tls/$ca-key.pem" \
			-CAcreateserial -days 3650 -extfile "$ext" -out "$STATE/tls/$out.pem.new" >>"$LOG/openssl.log" 2>&1) ||
		die "issuing the $out certificate failed, see $LOG/openssl.log"
	rm -f "$STATE/tls/$out.csr" "$ext"
	chmod 644 "$STATE/tls/$out.pem.new"
	chmod 640 "$key.new"
	chgrp dovecot "$key.new" 2>/dev/null || true
	mv "$key.new" "$key"
	mv "$STATE/tls/$out.pem.new" "$STATE/tls/$out.pem"
}

# make_tls: the testbed's CA (ca.pem) and the certificate Postfix and
# Dovecot serve (cert.pem, key.pem), issued by it; and a second, unrelated
# CA (other-ca.pem) with a certificate of its own for the same names
# (other-cert.pem), for tests of "a certificate from another CA fails".
make_tls() {
	mkdir -p "$STATE/tls"
	chmod 755 "$STATE/tls"
	make_ca ca "listprobe testbed CA"
	make_ca other-ca "listprobe testbed other CA"
	issue ca cert
	issue other-ca other-cert
}

# --- Dovecot -----------------------------------------------------------------

# account_hash ADDRESS PASSWORD: the password's hash for Dovecot's users
# file, the one there already while the password is unchanged, so that
# up.sh rewrites nothing on a warm run.
account_hash() {
	local hash
	hash=$(grep "^$1:" "$STATE/dovecot/users" 2>/dev/null | cut -d: -f2 || true)
	if [ -z "$hash" ] || [ "$(printf '%s' "$2" | openssl passwd -6 -stdin -salt "$(echo "$hash" | cut -d'$' -f3)")" != "${hash#\{SHA512-CRYPT\}}" ]; then
		hash="{SHA512-CRYPT}$(printf '%s' "$2" | openssl passwd -6 -stdin)"
	fi
	echo "$hash"
}

configure_dovecot() {
	mkdir -p "$STATE/dovecot" "$STATE/mail"
	chown mail:mail "$STATE/mail"
	local users=$STATE/dovecot/users.new a o
	(umask 027 && : >"$users")
	for a in $ACCOUNTS; do
		printf '%s@%s:%s::::::\n' "$a" "$MAIL_DOMAIN" "$(account_hash "$a@$MAIL_DOMAIN" "$(secret "$a")")" >>"$users"
	done
	for o in $OTHER_ACCOUNTS; do
		printf '%s:%s::::::\n' "${o#*=}" "$(account_hash "${o#*=}" "$(secret "${o%%=*}")")" >>"$users"
	done
	chgrp dovecot "$users"
	mv "$users" "$STATE/dovecot/users"
	subst "$HERE/dovecot.conf.in" >"$STATE/dovecot/dovecot.conf"
}

# --- Postfix -----------------------------------------------------------------

# subst FILE: the template FILE with the testbed's values filled in.
subst() {
	sed -e "s|@STATE@|$STATE|g" -e "s|@RUN@|$RUN|g" -e "s|@MAIL_DOMAIN@|$MAIL_DOMAIN|g" \
		-e "s|@MTA_HOSTNAME@|$MTA_HOSTNAME|g" -e "s|@LIST_DOMAIN@|$LIST_DOMAIN|g" \
		-e "s|@SYMPA_DOMAIN_RE@|${SYMPA_DOMAIN//./\\\\.}|g" -e "s|@MLMMJ_DOMAIN_RE@|${MLMMJ_DOMAIN//./\\\\.}|g" \
		-e "s|@SYMPA_DOMAIN@|$SYMPA_DOMAIN|g" -e "s|@MLMMJ_DOMAIN@|$MLMMJ_DOMAIN|g" \
		-e "s|@MLMMJ_SPOOL@|$MLMMJ_SPOOL|g" -e "s|@SYMPA_DB@|$SYMPA_DB|g" \
		-e "s|@READER2_DOMAIN@|$READER2_DOMAIN|g" -e "s|@REJECT_DOMAIN@|$REJECT_DOMAIN|g" \
		-e "s|@LIST_OUT_PORT@|$LIST_OUT_PORT|g" -e "s|@DKIM_PORT@|$DKIM_PORT|g" \
		-e "s|@RSPAMD_MILTER_PORT@|$RSPAMD_MILTER_PORT|g" -e "s|@LIST_OUT_HOSTNAME@|$LIST_OUT_HOSTNAME|g" \
		-e "s|@MX_PORT@|$MX_PORT|g" "$1"
}

# install_whole TEMPLATE DEST: write DEST from TEMPLATE, whole. A DEST that
# up.sh did not write (no "listprobe testbed" in its first line) is kept
# once as DEST.before-listprobe-testbed, or with a time stamp if that
# exists already.
install_whole() {
	local tpl=$1 dest=$2 new
	new=$dest.listprobe-testbed.new
	subst "$tpl" >"$new"
	if [ -e "$dest" ] && ! head -n1 "$dest" | grep -q 'listprobe testbed'; then
		local keep=$dest.before-listprobe-testbed
		[ -e "$keep" ] && keep=$keep.$(date +%Y%m%d%H%M%S)
		cp -p "$dest" "$keep"
		say "kept the previous $dest as $keep"
	fi
	if cmp -s "$new" "$dest"; then
		rm -f "$new"
	else
		mv "$new" "$dest"
		# Someone changed the file since up.sh wrote it, and may have
		# reloaded the daemon with it: reload even if the new file is the
		# one up.sh loaded last.
		REWRITTEN="$REWRITTEN $dest"
	fi
}

configure_postfix() {
	# The whole main.cf and master.cf, not postconf -e over whatever an
	# earlier configuration left (see postfix-main.cf.in).
	mkdir -p "$STATE/postfix"
	install_whole "$HERE/postfix-main.cf.in" /etc/postfix/main.cf
	install_whole "$HERE/postfix-master.cf.in" /etc/postfix/master.cf
	local tr=$STATE/postfix/transport.regexp
	subst "$HERE/postfix-transport.regexp.in" >"$tr.new"
	if cmp -s "$tr.new" "$tr"; then rm -f "$tr.new"; else mv "$tr.new" "$tr"; fi
	make_hold_table
	[ -f /etc/aliases.db ] && [ /etc/aliases.db -nt /etc/aliases ] || newaliases
}

# --- Mailman -----------------------------------------------------------------

configure_mailman() {
	mkdir -p "$STATE/mailman"
	local pw new
	pw=$(secret mailman-rest)
	new=$MAILMAN_CFG.new
	(umask 027 && sed -e "s|@REST_PASSWORD@|$pw|" -e "s|@REST_USER@|$REST_USER|" \
		-e "s|@REST_PORT@|$REST_PORT|" -e "s|@MAIL_DOMAIN@|$MAIL_DOMAIN|g" \
		-e "s|@LIST_OUT_PORT@|$LIST_OUT_PORT|g" -e "s|@LIST_DOMAIN@|$LIST_DOMAIN|g" \
		-e "s|@ARC_SELECTOR@|$ARC_SELECTOR|g" -e "s|@ARC_KEY@|$DKIM_DIR/arc/arc.key|g" -e "s|@STATE@|$STATE|g" \
		"$HERE/mailman.cfg.in" >"$new")
	chgrp list "$new" "$STATE/mailman"
	chmod 750 "$STATE/mailman"
	if cmp -s "$new" "$MAILMAN_CFG"; then rm -f "$new"; else mv "$new" "$MAILMAN_CFG"; fi
	# The Debian package's mailman.cfg carries a random REST password of
	# its own; ours is passed with -C everywhere instead.
	mkdir -p /var/lib/mailman3 /var/log/mailman3 "$RUN/mailman"
	chown list:list /var/lib/mailman3 /var/log/mailman3 "$RUN/mailman"
}

# patch_mailman works around a bug of Debian 12's Mailman 3.3.8: a held
# post's metadata is pickled and stored with .decode('raw-unicode-escape'),
# which fails ("truncated \UXXXXXXXX escape") whenever the pickle happens to
# hold a backslash and a "U" (a time's microseconds can), and the post is
# shunted instead of held: now and then a hold goes missing. Decoding as
# latin-1 stores the same characters that the reader's
# .encode('raw-unicode-escape') turns back into the same bytes. The original
# file is kept beside it (.orig); Mailman restarts to load the fix.
patch_mailman() {
	local f=/usr/lib/python3/dist-packages/mailman/model/requests.py
	grep -q "value = dumps(value).decode('raw-unicode-escape')" "$f" 2>/dev/null || return 0
	say "patching Mailman's held-post metadata encoding (see patch_mailman in up.sh)"
	[ -e "$f.orig" ] || cp -p "$f" "$f.orig"
	sed -i "s/value = dumps(value).decode('raw-unicode-escape')/value = dumps(value).decode('latin-1')  # listprobe testbed: see up.sh/" "$f"
	rm -rf /usr/lib/python3/dist-packages/mailman/model/__pycache__/requests.*
	touch "$MAILMAN_CFG"
}

# --- starting and stopping ----------------------------------------------------

# changed NAME FILES...: the files differ from when NAME last (re)loaded them.
changed() {
	local name=$1 sum
	shift
	sum=$(cat "$@" | sha256sum | cut -d' ' -f1)
	[ "$(cat "$RUN/$name.confsum" 2>/dev/null)" != "$sum" ]
}
loaded() {
	local name=$1
	shift
	cat "$@" | sha256sum | cut -d' ' -f1 >"$RUN/$name.confsum"
}

# alive PIDFILE: the pid in PIDFILE names a running process that is the
# daemon the file belongs to (a stale file whose pid was reused by some
# other process does not count).
alive() {
	local pid want
	[ -s "$1" ] || return 1
	pid=$(tr -d ' \n' <"$1")
	case $pid in '' | *[!0-9]*) return 1 ;; esac
	case $1 in
	*/dovecot/*) want=/usr/sbin/dovecot ;;
	*/mailman/*) want=/usr/lib/mailman3/bin/master ;;
	*/sympa/*) want=$SYMPA_BIN/$(basename "$1" .pid).pl ;;
	*) want=/usr/lib/postfix/sbin/master ;;
	esac
	tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -qF "$want"
}

# wait_port PORT NAME: wait until something accepts on 127.0.0.1:PORT.
wait_port() {
	local deadline=$((SECONDS + 120))
	while [ "$SECONDS" -lt "$deadline" ]; do
		(exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
		sleep 0.1
	done
	die "$2 does not answer on 127.0.0.1:$1 (see $LOG)"
}

# banner PORT PATTERN NAME: the greeting on 127.0.0.1:PORT matches PATTERN.
banner() {
	local line
	line=$(timeout 5 bash -c "exec 3<>/dev/tcp/127.0.0.1/$1; head -n1 <&3" 2>/dev/null || true)
	printf '%s' "$line" | grep -q "$2" || die "$3 on 127.0.0.1:$1 answered '$line', expected $2"
}

start_dovecot() {
	mkdir -p "$RUN"
	local conf="$STATE/dovecot/dovecot.conf $STATE/dovecot/users $STATE/tls/cert.pem"
	if alive "$RUN/dovecot/master.pid"; then
		if changed dovecot $conf; then
			say "reloading dovecot"
			doveadm -c "$STATE/dovecot/dovecot.conf" reload </dev/null >>"$LOG/dovecot.log" 2>&1
		fi
	else
		say "starting dovecot"
		dovecot -c "$STATE/dovecot/dovecot.conf" </dev/null >>"$LOG/dovecot.log" 2>&1
	fi
	loaded dovecot $conf
	wait_port 143 dovecot
	banner 143 '^\* OK' "dovecot IMAP"
}

start_postfix() {
	local conf="/etc/postfix/main.cf /etc/postfix/master.cf $STATE/postfix/transport.regexp $STATE/tls/cert.pem"
	if alive /var/spool/postfix/pid/master.pid; then
		if changed postfix $conf || [[ $REWRITTEN == */etc/postfix/* ]]; then
			say "reloading postfix"
			postfix reload </dev/null >>"$LOG/postfix-start.log" 2>&1
		fi
	else
		say "starting postfix"
		postfix check </dev/null >>"$LOG/postfix-start.log" 2>&1 || die "postfix check failed, see $LOG/postfix-start.log"
		postfix start </dev/null >>"$LOG/postfix-start.log" 2>&1 || die "postfix start failed, see $LOG/postfix-start.log"
	fi
	loaded postfix $conf
	# Record the pid we own, so down.sh stops exactly this master.
	local i
	for i in $(seq 1 100); do alive /var/spool/postfix/pid/master.pid && break; sleep 0.1; done
	tr -d ' ' </var/spool/postfix/pid/master.pid >"$RUN/postfix.pid"
	wait_port 25 postfix
	wait_port 587 "postfix submission"
	banner 587 '^220 ' "postfix submission"
}

mailman() { runuser -u list -- mailman -C "$MAILMAN_CFG" "$@"; }

# runners_started: every runner the master started has logged that it runs.
# The REST port opens before the queue runners are ready.
runners_started() {
	local pid=$1 want got c
	# The master's children are the runners; each logs "<name> runner
	# started." with its own pid once it runs.
	want=$(pgrep -P "$pid" | wc -l)
	[ "$want" -gt 0 ] || return 1
	got=0
	for c in $(pgrep -P "$pid"); do
		grep -q "($c) .* runner started\.$" /var/log/mailman3/mailman.log 2>/dev/null && got=$((got + 1))
	done
	[ "$got" -eq "$want" ]
}

start_mailman() {
	local pidfile=$RUN/mailman/master.pid
	if alive "$pidfile" && [ "$MAILMAN_CFG" -ot "$pidfile" ] &&
		{ mailman_resolves_testbed "$pidfile" || ! unshare --mount true 2>/dev/null; }; then
		:
	else
		if alive "$pidfile"; then
			say "restarting mailman (configuration changed)"
			stop_mailman
		fi
		say "starting mailman"
		# In a mount namespace of its own where /etc/resolv.conf names the
		# testbed's DNS (dns.sh): Mailman's DMARC and ARC lookups
		# (dnspython) go there; the machine's resolv.conf stays as it is.
		local ns="unshare --mount --propagation private"
		if ! $ns true 2>/dev/null; then
			say "warning: no mount namespace here (unshare --mount: no CAP_SYS_ADMIN?): Mailman's DMARC and ARC lookups use the machine's resolver, not the testbed's DNS"
			ns=""
		fi
		(cd /var/lib/mailman3 && $ns sh -c \
			'[ -z "$3" ] || mount --bind "$1" /etc/resolv.conf || exit 1; exec runuser -u list -- mailman -C "$2" start --force' \
			sh "$DNS_DIR/resolv.conf" "$MAILMAN_CFG" "$ns" \
			</dev/null >>"$LOG/mailman-start.log" 2>&1) || die "mailman start failed, see $LOG/mailman-start.log"
	fi
	local i pid
	for i in $(seq 1 600); do alive "$pidfile" && break; sleep 0.1; done
	alive "$pidfile" || die "mailman master did not start, see $LOG/mailman-start.log"
	pid=$(cat "$pidfile")
	# About 2s on an idle machine, but a minute on a loaded 2-core one.
	local deadline=$((SECONDS + 300))
	until runners_started "$pid"; do
		[ "$SECONDS" -lt "$deadline" ] || die "mailman runners did not all start within 300s, see /var/log/mailman3/mailman.log"
		alive "$pidfile" || die "mailman master exited, see /var/log/mailman3/mailman.log and $LOG/mailman-start.log"
		sleep 0.1
	done
	# WAL: readers (the runners) no longer block a writer (REST) until they
	# end their transaction. The mode is kept in the database file; set as
	# list, so that the -wal and -shm files are Mailman's.
	local db=/var/lib/mailman3/data/mailman.db
	if [ "$(runuser -u list -- sqlite3 "$db" 'PRAGMA journal_mode;' 2>/dev/null)" != wal ]; then
		runuser -u list -- sqlite3 -cmd '.timeout 30000' "$db" 'PRAGMA journal_mode=WAL;' >>"$LOG/mailman-start.log" 2>&1 ||
			say "warning: could not put Mailman's database in WAL mode, see $LOG/mailman-start.log"
	fi
	wait_port "$REST_PORT" "mailman REST"
	wait_port 8024 "mailman LMTP"
	banner 8024 '^220 ' "mailman LMTP"
}

stop_mailman() {
	local pidfile=$RUN/mailman/master.pid pid i
	alive "$pidfile" || return 0
	pid=$(cat "$pidfile")
	kill -TERM "$pid"
	for i in $(seq 1 600); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
	! kill -0 "$pid" 2>/dev/null || die "mailman master $pid did not stop within 60s"
}

# --- Mailman content: domain, list, members, via REST -------------------------

rest() {
	# rest METHOD PATH [curl args...]: prints the body, fails on HTTP >= 400.
	local m=$1 p=$2
	shift 2
	# The credentials come from a 0600 file, not the command line (ps).
	curl -sS --fail-with-body -K "$SECRETS/curl-rest" \
		-X "$m" "http://127.0.0.1:$REST_PORT/3.1$p" "$@"
}

rest_status() {
	curl -s -o /dev/null -w '%{http_code}' -K "$SECRETS/curl-rest" \
		"http://127.0.0.1:$REST_PORT/3.1$1"
}

populate_mailman() {
	(umask 077 && printf 'user = "%s:%s"\n' "$REST_USER" "$(cat "$SECRETS/mailman-rest")" >"$SECRETS/curl-rest")
	local deadline=$((SECONDS + 60))
	while [ "$SECONDS" -lt "$deadline" ]; do
		[ "$(rest_status /system/versions)" = 200 ] && break
		sleep 0.1
	done
	[ "$(rest_status /system/versions)" = 200 ] || die "mailman REST does not accept the admin password"
	if [ "$(rest_status "/domains/$LIST_DOMAIN")" != 200 ]; then
		rest POST /domains -d "mail_host=$LIST_DOMAIN" >/dev/null
	fi
	if [ "$(rest_status "/lists/$LIST_ID")" != 200 ]; then
		say "creating list $LIST"
		rest POST /lists -d "fqdn_listname=$LIST" >/dev/null
		rest PATCH "/lists/$LIST_ID/config" -d send_welcome_message=false \
			-d send_goodbye_message=false -d admin_notify_mchanges=false >/dev/null
		# The list's archiver rows, before its first post: two runners
		# adding them at once leave a duplicate, and Mailman 3.3.8 then
		# shunts every post to the list (see MailmanAdmin.CreateList).
		rest GET "/lists/$LIST_ID/archivers" >/dev/null
	fi
	local who role
	for who in member:member reader:member moderator:owner reader@$READER2_DOMAIN:member poster@$REJECT_DOMAIN:member; do
		role=${who#*:}
		who=${who%%:*}
		[[ $who == *@* ]] || who=$who@$MAIL_DOMAIN
		if [ "$(rest_status "/lists/$LIST_ID/$role/$who")" != 200 ]; then
			rest POST /members -d "list_id=$LIST_ID" -d "subscriber=$who" -d "role=$role" \
				-d pre_verified=true -d pre_confirmed=true -d pre_approved=true \
				-d send_welcome_message=false >/dev/null
		fi
	done
}

# --- Sympa -------------------------------------------------------------------

configure_sympa() {
	local new=/etc/sympa/sympa/sympa.conf.listprobe-testbed.new
	subst "$HERE/sympa.conf.in" >"$new"
	chown root:sympa "$new"
	chmod 640 "$new"
	if cmp -s "$new" /etc/sympa/sympa/sympa.conf; then rm -f "$new"; else mv "$new" /etc/sympa/sympa/sympa.conf; fi
	mkdir -p /run/sympa
	chown sympa:sympa /run/sympa
}

stop_sympa() {
	local d pid i
	for d in $SYMPA_DAEMONS; do
		alive "/run/sympa/$d.pid" || continue
		pid=$(tr -d ' \n' <"/run/sympa/$d.pid")
		kill -TERM "$pid"
		for i in $(seq 1 300); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
		! kill -0 "$pid" 2>/dev/null || die "sympa $d ($pid) did not stop within 30s"
	done
}

# Sympa's daemons log only to syslog, and there is no /dev/log here: each
# runs in the foreground (it still writes its pid file under /run/sympa)
# with its log on stderr, sent to a file.
start_sympa() {
	local d conf="/etc/sympa/sympa/sympa.conf"
	if changed sympa $conf; then
		stop_sympa
	fi
	local started=""
	for d in $SYMPA_DAEMONS; do
		alive "/run/sympa/$d.pid" && continue
		[ -z "$started" ] && say "starting sympa"
		started=1
		setsid runuser -u sympa -- "$SYMPA_BIN/$d.pl" --foreground </dev/null >>"$LOG/sympa-$d.log" 2>&1 &
	done
	loaded sympa $conf
	local i
	for d in $SYMPA_DAEMONS; do
		for i in $(seq 1 300); do alive "/run/sympa/$d.pid" && break; sleep 0.1; done
		alive "/run/sympa/$d.pid" || die "sympa $d did not start, see $LOG/sympa-$d.log"
	done
}

sympa() { runuser -u sympa -- "$SYMPA_BIN/sympa.pl" "$@" 2>>"$LOG/sympa-cli.log"; }

populate_sympa() {
	"$STATE/bin/listctl" sympa create "$SYMPA_LIST" >>"$LOG/sympa-cli.log" 2>&1 ||
		die "creating $SYMPA_LIST failed, see $LOG/sympa-cli.log"
}

# --- mlmmj --------------------------------------------------------------------

configure_mlmmj() {
	id mlmmj >/dev/null 2>&1 || useradd --system --home-dir "$MLMMJ_SPOOL" --no-create-home --shell /usr/sbin/nologin mlmmj
	mkdir -p "$MLMMJ_SPOOL"
	chown mlmmj:mlmmj "$MLMMJ_SPOOL"
	"$STATE/bin/listctl" mlmmj create "$MLMMJ_LIST" >>"$LOG/mlmmj-cli.log" 2>&1 ||
		die "creating $MLMMJ_LIST failed, see $LOG/mlmmj-cli.log"
}

# --- delivery check -----------------------------------------------------------

# verify_delivery sends a message to every account through Postfix (SMTP
# on port 25, as any other mail) and waits until each is in its Maildir;
# then it posts to each list manager's list as the member and waits for the
# reader's copy. It expunges exactly those messages afterwards. A leftover
# Postfix setting, a broken LMTP socket, a Dovecot user database that does
# not know the account or a list manager that does not deliver all end
# here, loudly, instead of as "lost" probes later.
verify_delivery() {
	local token t key rcpt box from failed="" pending="" deadline msgfile out
	token=testbed-check-$(date +%s)-$$-$RANDOM
	# key:recipient:mailbox that must receive it:envelope sender
	local targets="" a
	for a in $ACCOUNTS; do targets="$targets $a:$a@$MAIL_DOMAIN:$a:"; done
	for a in $OTHER_ACCOUNTS; do targets="$targets ${a%%=*}:${a#*=}:${a#*=}:"; done
	targets="$targets mailman:$LIST:reader:member@$MAIL_DOMAIN sympa:$SYMPA_LIST:reader:member@$MAIL_DOMAIN mlmmj:$MLMMJ_LIST:reader:member@$MAIL_DOMAIN"
	# The second reader gets each list's copy too (filed by its own rule).
	targets="$targets mailman2:$LIST:reader@$READER2_DOMAIN:member@$MAIL_DOMAIN sympa2:$SYMPA_LIST:reader@$READER2_DOMAIN:member@$MAIL_DOMAIN mlmmj2:$MLMMJ_LIST:reader@$READER2_DOMAIN:member@$MAIL_DOMAIN"
	msgfile=$(mktemp)
	for t in $targets; do
		IFS=: read -r key rcpt box from <<<"$t"
		# Accounts get mail from the null sender (a failure must not bounce
		# anywhere); lists a post from their member.
		printf 'From: %s\r\nTo: <%s>\r\nSubject: listprobe testbed delivery check %s %s\r\nMessage-ID: <%s.%s@%s>\r\nX-Listprobe-Testbed-Check: %s\r\n\r\nup.sh checks that mail to this address is delivered; it expunges this message itself.\r\n' \
			"${from:-up.sh <postmaster@$MAIL_DOMAIN>}" "$rcpt" "$token" "$key" "$token" "$key" "$MTA_HOSTNAME" "$token" >"$msgfile"
		if out=$(curl -sS --max-time 30 "smtp://127.0.0.1:25/$MTA_HOSTNAME" --mail-from "$from" \
			--mail-rcpt "$rcpt" -T "$msgfile" 2>&1); then
			pending="$pending $t"
		else
			printf 'testbed: Postfix refused a message to %s: %s\n' "$rcpt" "$out" >&2
			failed="$failed $key(refused)"
		fi
	done
	rm -f "$msgfile"
	deadline=$((SECONDS + 60))
	local still q status dir
	while [ -n "$pending" ]; do
		still=""
		for t in $pending; do
			IFS=: read -r key rcpt box from <<<"$t"
			# box: a local part of $MAIL_DOMAIN, or an address.
			[[ $box == *@* ]] || box=$box@$MAIL_DOMAIN
			dir=$STATE/mail/${box#*@}/${box%@*}/Maildir
			if grep -rqsF "<$token.$key@" "$dir/new" "$dir/cur"; then
				continue
			fi
			# Filed as spam: the filter's scores are off (see spam.sh).
			if grep -rqsF "<$token.$key@" "$dir/.Junk/new" "$dir/.Junk/cur"; then
				failed="$failed $key(in-$box's-Junk)"
				continue
			fi
			# Postfix gave up on it, or delivered it somewhere else.
			# (|| true: a message not logged yet is not an error here.)
			q=$(grep -F "message-id=<$token.$key@" "$LOG/postfix.log" | sed -n 's/.*: \([0-9A-F]\{6,\}\): .*/\1/p' | head -n1 || true)
			status=""
			[ -z "$q" ] || status=$(grep -F " $q: to=" "$LOG/postfix.log" | sed -n 's/.*status=\([a-z]*\).*/\1/p' | tail -n1 || true)
			case $status in
			bounced | deferred | undeliverable) failed="$failed $key($status)" ;;
			*) [ "$SECONDS" -lt "$deadline" ] && still="$still $t" || failed="$failed $key(not-in-$box's-mailbox-after-60s)" ;;
			esac
		done
		pending=$still
		[ -z "$pending" ] || sleep 0.1
	done
	# Every check message and list copy of one, this run's and any an
	# interrupted run left: the header and its "testbed-check-" value, or
	# the Subject, are up.sh's own.
	[ -n "$failed" ] || verify_authentication "$token" || failed="$failed authentication"
	[ -n "$failed" ] || verify_archive "<$token.mailman@$MTA_HOSTNAME>" "$LIST" || failed="$failed hyperkitty-archive"
	[ -n "$failed" ] || verify_sympa_archive "<$token.sympa@$MTA_HOSTNAME>" "$SYMPA_LIST" || failed="$failed sympa-archive"
	local u m
	for u in $ACCOUNTS $OTHER_ACCOUNTS; do
		[[ $u == *=* ]] && u=${u#*=} || u=$u@$MAIL_DOMAIN
		for m in INBOX Junk; do
			doveadm -c "$STATE/dovecot/dovecot.conf" expunge -u "$u" mailbox "$m" \
				'(' header X-Listprobe-Testbed-Check testbed-check- OR subject "listprobe testbed delivery check testbed-check-" ')' \
				>>"$LOG/verify.log" 2>&1 || true
		done
	done
	if [ -n "$failed" ]; then
		printf 'testbed: error: a message to these accounts or lists was not delivered:%s\n' "$failed" >&2
		printf 'testbed: what Postfix logged for them (%s):\n' "$LOG/postfix.log" >&2
		local f
		for f in $failed; do
			key=${f%%(*}
			for q in $(grep -F "message-id=<$token.$key@" "$LOG/postfix.log" | sed -n 's/.*: \([0-9A-F]\{6,\}\): .*/\1/p' | sort -u || true); do
				grep -F " $q: " "$LOG/postfix.log" | grep -v "message-id=\|client=\|removed$" | tail -n 4 >&2 || true
			done
		done
		die "hint: up.sh writes /etc/postfix/main.cf and master.cf whole (the earlier ones are kept as *.before-listprobe-testbed); check 'postconf -n', $LOG/dovecot.log, $LOG/verify.log, /var/log/mailman3/mailman.log and $LOG/sympa-*.log"
	fi
}

# write_config writes a listprobe configuration that probes the testbed's
# list, for trying listprobe by hand (listprobe once --config.file=...).
write_config() {
	secret signing-key >/dev/null
	local cfg=$STATE/listprobe.yml acct
	{
		cat <<-EOF
			# listprobe configuration for the testbed (written by deploy/testbed/up.sh).
			global:
			  schedule: "@every 1m"
			  timeout: 30s
			  signing_key_file: $SECRETS/signing-key
			accounts:
		EOF
		for acct in member reader moderator; do
			cat <<-EOF
				  $acct:
				    address: $acct@$MAIL_DOMAIN
				    cleanup: true
			EOF
			[ "$acct" = member ] && cat <<-EOF
				    smtp: { address: "127.0.0.1:587", tls: starttls, ca_file: $STATE/tls/ca.pem, auth: plain, username: $acct@$MAIL_DOMAIN, password_file: $SECRETS/$acct }
			EOF
			cat <<-EOF
				    imap: { address: "127.0.0.1:143", tls: starttls, ca_file: $STATE/tls/ca.pem, username: $acct@$MAIL_DOMAIN, password_file: $SECRETS/$acct }
			EOF
		done
		cat <<-EOF
			mailman:
			  testbed: { url: "http://127.0.0.1:$REST_PORT/3.1", username: $REST_USER, password_file: $SECRETS/mailman-rest }
			lists:
			  - address: $LIST
			    poster: member
			    reader: reader
			    moderator: moderator
			    mailman: testbed
		EOF
	} >"$cfg.new"
	mv "$cfg.new" "$cfg"
}

write_env() {
	local env=$RUN/env tmp
	tmp=$env.new
	{
		echo "LISTPROBE_TESTBED=1"
		echo "LISTPROBE_TESTBED_STATE=$STATE"
		echo "LISTPROBE_TESTBED_SMTP=127.0.0.1:587"
		echo "LISTPROBE_TESTBED_MTA=127.0.0.1:25"
		echo "LISTPROBE_TESTBED_IMAP=127.0.0.1:143"
		echo "LISTPROBE_TESTBED_IMAPS=127.0.0.1:993"
		echo "LISTPROBE_TESTBED_SUBMISSIONS=127.0.0.1:465"
		echo "LISTPROBE_TESTBED_CA_FILE=$STATE/tls/ca.pem"
		echo "LISTPROBE_TESTBED_OTHER_CA_FILE=$STATE/tls/other-ca.pem"
		echo "LISTPROBE_TESTBED_OTHER_CERT_FILE=$STATE/tls/other-cert.pem"
		echo "LISTPROBE_TESTBED_OTHER_KEY_FILE=$STATE/tls/other-cert-key.pem"
		echo "LISTPROBE_TESTBED_TLS_SERVER_NAME=$MTA_HOSTNAME"
		echo "LISTPROBE_TESTBED_LIST=$LIST"
		echo "LISTPROBE_TESTBED_LIST_ID=$LIST_ID"
		echo "LISTPROBE_TESTBED_LIST_DOMAIN=$LIST_DOMAIN"
		for a in $ACCOUNTS; do
			local up
			up=$(echo "$a" | tr a-z A-Z)
			echo "LISTPROBE_TESTBED_${up}=$a@$MAIL_DOMAIN"
			echo "LISTPROBE_TESTBED_${up}_PASSWORD_FILE=$SECRETS/$a"
		done
		echo "LISTPROBE_TESTBED_MAILMAN_URL=http://127.0.0.1:$REST_PORT/3.1"
		echo "LISTPROBE_TESTBED_MAILMAN_USER=$REST_USER"
		echo "LISTPROBE_TESTBED_MAILMAN_PASSWORD_FILE=$SECRETS/mailman-rest"
		echo "LISTPROBE_TESTBED_MAILMAN_LOG=/var/log/mailman3/mailman.log"
		echo "LISTPROBE_TESTBED_POSTFIX_LOG=$LOG/postfix.log"
		echo "LISTPROBE_TESTBED_CONFIG=$STATE/listprobe.yml"
		echo "LISTPROBE_TESTBED_SIGNING_KEY_FILE=$SECRETS/signing-key"
		echo "LISTPROBE_TESTBED_MAIL_DOMAIN=$MAIL_DOMAIN"
		echo "LISTPROBE_TESTBED_LISTCTL=$STATE/bin/listctl"
		echo "LISTPROBE_TESTBED_SYMPA_LIST=$SYMPA_LIST"
		echo "LISTPROBE_TESTBED_SYMPA_DOMAIN=$SYMPA_DOMAIN"
		echo "LISTPROBE_TESTBED_SYMPA_LOG_DIR=$LOG"
		echo "LISTPROBE_TESTBED_MLMMJ_LIST=$MLMMJ_LIST"
		echo "LISTPROBE_TESTBED_MLMMJ_DOMAIN=$MLMMJ_DOMAIN"
		echo "LISTPROBE_TESTBED_MLMMJ_SPOOL=$MLMMJ_SPOOL"
		write_auth_env
		write_hyperkitty_env
		write_sympa_web_env
	} >"$tmp"
	mv "$tmp" "$env"
	cat "$env"
}

# --- main ----------------------------------------------------------------------

mkdir -p "$STATE" "$LOG" "$SECRETS" "$RUN"
chmod 700 "$SECRETS"
chmod 755 "$STATE" "$RUN"
install_packages
# The host name must resolve without DNS (Mailman and Postfix look it up).
grep -qw "$(hostname)" /etc/hosts || echo "127.0.0.1 $(hostname)" >>/etc/hosts
grep -qw "$MTA_HOSTNAME" /etc/hosts || echo "127.0.0.1 $MTA_HOSTNAME" >>/etc/hosts
make_tls
mkdir -p "$STATE/bin"
install -m 755 "$HERE/listctl" "$STATE/bin/listctl"
install -m 755 "$HERE/tbctl" "$STATE/bin/tbctl"
install -m 755 "$HERE/hyperkitty.sh" "$STATE/bin/hyperkitty.sh"
install -m 755 "$HERE/sympa-web.sh" "$STATE/bin/sympa-web.sh"
install -m 644 "$HERE/pidfile.sh" "$STATE/bin/pidfile.sh"
make_dkim_keys
configure_dns
start_dns
configure_opendkim
start_opendkim
configure_spam
start_spam
configure_dovecot
configure_postfix
configure_mailman
patch_mailman
patch_mailman_archivers
configure_hyperkitty
configure_sympa
configure_sympa_web
start_dovecot
start_postfix
start_mailman
start_sympa
start_hyperkitty
start_sympa_web
populate_mailman
populate_sympa
configure_mlmmj
verify_delivery
write_config
write_env
say "up in $(awk -v a="$START_TIME" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }')s"
