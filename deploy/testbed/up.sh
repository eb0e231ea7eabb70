#!/bin/bash
# up.sh brings up a real mailing-list stack on loopback for listprobe's
# end-to-end tests: Debian 12's Postfix, Dovecot and Mailman 3, started
# without systemd. It is idempotent: a second run only checks that
# everything answers. See README.md beside it.
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
# Accounts with a Dovecot mailbox. member posts, reader is a subscriber that
# only reads, moderator owns the list, outsider is not subscribed, listmaster
# is Mailman's site owner.
ACCOUNTS="member reader moderator outsider listmaster"
REST_PORT=8001
REST_USER=restadmin
MAILMAN_CFG=$STATE/mailman/mailman.cfg
PKGS="postfix dovecot-imapd dovecot-lmtpd mailman3"

say() { printf 'testbed: %s\n' "$*" >&2; }
die() { printf 'testbed: error: %s\n' "$*" >&2; exit 1; }

[ "$(id -u)" = 0 ] || die "must run as root (it installs packages and starts daemons)"
START_TIME=$(date +%s.%N)

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

make_cert() {
	[ -s "$STATE/tls/cert.pem" ] && return 0
	mkdir -p "$STATE/tls"
	(umask 077 && openssl req -x509 -newkey rsa:2048 -nodes -days 3650 \
		-subj "/CN=$MTA_HOSTNAME" \
		-addext "subjectAltName=DNS:$MTA_HOSTNAME,DNS:localhost,IP:127.0.0.1" \
		-keyout "$STATE/tls/key.pem" -out "$STATE/tls/cert.pem" >>"$LOG/openssl.log" 2>&1)
	chmod 644 "$STATE/tls/cert.pem"
	chmod 640 "$STATE/tls/key.pem"
	chgrp dovecot "$STATE/tls/key.pem" 2>/dev/null || true
}

# --- Dovecot -----------------------------------------------------------------

configure_dovecot() {
	mkdir -p "$STATE/dovecot" "$STATE/mail"
	chown mail:mail "$STATE/mail"
	local users=$STATE/dovecot/users.new
	(umask 027 && : >"$users")
	for a in $ACCOUNTS; do
		local pw hash
		pw=$(secret "$a")
		# Reuse the hash while the password is unchanged, so that up.sh
		# rewrites nothing on a warm run.
		hash=$(grep "^$a@$MAIL_DOMAIN:" "$STATE/dovecot/users" 2>/dev/null | cut -d: -f2 || true)
		if [ -z "$hash" ] || [ "$(printf '%s' "$pw" | openssl passwd -6 -stdin -salt "$(echo "$hash" | cut -d'$' -f3)")" != "${hash#\{SHA512-CRYPT\}}" ]; then
			hash="{SHA512-CRYPT}$(printf '%s' "$pw" | openssl passwd -6 -stdin)"
		fi
		printf '%s@%s:%s::::::\n' "$a" "$MAIL_DOMAIN" "$hash" >>"$users"
	done
	chgrp dovecot "$users"
	mv "$users" "$STATE/dovecot/users"
	sed -e "s|@STATE@|$STATE|g" -e "s|@RUN@|$RUN|g" -e "s|@MAIL_DOMAIN@|$MAIL_DOMAIN|g" \
		-e "s|@MTA_HOSTNAME@|$MTA_HOSTNAME|g" "$HERE/dovecot.conf.in" >"$STATE/dovecot/dovecot.conf"
}

# --- Postfix -----------------------------------------------------------------

configure_postfix() {
	# Debian's master.cf chroots the services, which fails here.
	# (postconf -F reorders master.cf each time: only when needed.)
	local chroots
	chroots=$(postconf -F '*/*/chroot')
	if printf '%s\n' "$chroots" | grep -qv ' = n$'; then
		postconf -F '*/*/chroot = n'
	fi
	# Submission with SASL through Dovecot; STARTTLS offered, not required,
	# since this is loopback only.
	postconf -M "submission/inet=submission inet n - n - - smtpd"
	postconf -P \
		"submission/inet/syslog_name=postfix/submission" \
		"submission/inet/smtpd_sasl_auth_enable=yes" \
		"submission/inet/smtpd_tls_security_level=may" \
		"submission/inet/smtpd_client_restrictions=permit_sasl_authenticated,reject" \
		"submission/inet/smtpd_relay_restrictions=permit_sasl_authenticated,reject"
	postconf -e \
		"myhostname = $MTA_HOSTNAME" \
		"mydomain = $MAIL_DOMAIN" \
		"myorigin = \$myhostname" \
		"mydestination = localhost" \
		"inet_interfaces = 127.0.0.1" \
		"inet_protocols = ipv4" \
		"mynetworks = 127.0.0.0/8" \
		"relayhost =" \
		"default_transport = error:testbed delivers only on loopback" \
		"relay_transport = error:testbed delivers only on loopback" \
		"relay_domains = $MAIL_DOMAIN $LIST_DOMAIN" \
		"transport_maps = inline:{ $MAIL_DOMAIN=lmtp:unix:$RUN/dovecot/lmtp, $LIST_DOMAIN=lmtp:inet:[127.0.0.1]:8024 }" \
		"smtp_dns_support_level = disabled" \
		"lmtp_dns_support_level = disabled" \
		"smtp_host_lookup = native" \
		"lmtp_host_lookup = native" \
		"disable_dns_lookups = yes" \
		"smtpd_sasl_type = dovecot" \
		"smtpd_sasl_path = $RUN/dovecot/auth-postfix" \
		"smtpd_sasl_auth_enable = no" \
		"smtpd_tls_cert_file = $STATE/tls/cert.pem" \
		"smtpd_tls_key_file = $STATE/tls/key.pem" \
		"smtpd_tls_security_level = may" \
		"smtpd_relay_restrictions = permit_mynetworks permit_sasl_authenticated reject_unauth_destination" \
		"maillog_file = $LOG/postfix.log" \
		"delay_warning_time = 0" \
		"recipient_delimiter = +"
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
		"$HERE/mailman.cfg.in" >"$new")
	chgrp list "$new" "$STATE/mailman"
	chmod 750 "$STATE/mailman"
	if cmp -s "$new" "$MAILMAN_CFG"; then rm -f "$new"; else mv "$new" "$MAILMAN_CFG"; fi
	# The Debian package's mailman.cfg carries a random REST password of
	# its own; ours is passed with -C everywhere instead.
	mkdir -p /var/lib/mailman3 /var/log/mailman3 "$RUN/mailman"
	chown list:list /var/lib/mailman3 /var/log/mailman3 "$RUN/mailman"
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
	local conf="$STATE/dovecot/dovecot.conf $STATE/dovecot/users"
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
	local conf="/etc/postfix/main.cf /etc/postfix/master.cf"
	if alive /var/spool/postfix/pid/master.pid; then
		if changed postfix $conf; then
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
	if alive "$pidfile" && [ "$MAILMAN_CFG" -ot "$pidfile" ]; then
		:
	else
		if alive "$pidfile"; then
			say "restarting mailman (configuration changed)"
			stop_mailman
		fi
		say "starting mailman"
		(cd /var/lib/mailman3 && runuser -u list -- mailman -C "$MAILMAN_CFG" start --force \
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
	fi
	local who role
	for who in member:member reader:member moderator:owner; do
		role=${who#*:}
		who=${who%%:*}@$MAIL_DOMAIN
		if [ "$(rest_status "/lists/$LIST_ID/$role/$who")" != 200 ]; then
			rest POST /members -d "list_id=$LIST_ID" -d "subscriber=$who" -d "role=$role" \
				-d pre_verified=true -d pre_confirmed=true -d pre_approved=true \
				-d send_welcome_message=false >/dev/null
		fi
	done
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
				    smtp: { address: "127.0.0.1:587", tls: starttls, ca_file: $STATE/tls/cert.pem, auth: plain, username: $acct@$MAIL_DOMAIN, password_file: $SECRETS/$acct }
			EOF
			cat <<-EOF
				    imap: { address: "127.0.0.1:143", tls: starttls, ca_file: $STATE/tls/cert.pem, username: $acct@$MAIL_DOMAIN, password_file: $SECRETS/$acct }
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
		echo "LISTPROBE_TESTBED_CA_FILE=$STATE/tls/cert.pem"
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
make_cert
configure_dovecot
configure_postfix
configure_mailman
start_dovecot
start_postfix
start_mailman
populate_mailman
write_config
write_env
say "up in $(awk -v a="$START_TIME" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }')s"
