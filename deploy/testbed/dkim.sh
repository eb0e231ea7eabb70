# dkim.sh is sourced by up.sh: the DKIM keys of the testbed's domains and
# OpenDKIM, the signer on the list servers' outgoing path. See README.md
# ("DKIM, ARC and DNS").
#
# Production, as the testbed copies it: a list server hands its mail to its
# own outgoing MTA, which signs it with the list's domain (the envelope
# sender's domain, probe-test-bounces@lists.example.test -> d=lists.example.test,
# whatever the From says); the member's provider signs the member's post with
# the member's domain when it is submitted. Mail a stranger sends from
# another host is signed by nobody here. So:
#   - Mailman (smtp_port) and mlmmj (control/smtpport) submit to
#     127.0.0.1:10025, Sympa through sendmail (pickup): OpenDKIM signs there,
#     keyed by the envelope sender ({mail_addr}), then the "hop" transport
#     hands each copy, one recipient at a time, to 127.0.0.1:25, the
#     readers' "MX", where rspamd judges it (spam.sh);
#   - submission (587) signs with the member's domain (example.test,
#     reject-poster.test);
#   - port 25 signs nothing.

DKIM_DIR=$STATE/dkim
DKIM_PORT=8891
# selector for the list domains' DKIM keys, Mailman's ARC key, the members'.
LIST_SELECTOR=list
ARC_SELECTOR=arc
MEMBER_SELECTOR=mail
LIST_OUT_PORT=10025
# The list servers' outgoing MTA's name (its HELO to the readers' MX).
LIST_OUT_HOSTNAME=mta.$LIST_DOMAIN

# dkim_key DOMAIN SELECTOR: the private key's path, made once (PKCS#1, which
# dkimpy, Mailman's ARC library, reads).
dkim_key() {
	local f=$DKIM_DIR/keys/$1.$2.key
	if [ ! -s "$f" ]; then
		mkdir -p "$DKIM_DIR/keys"
		(umask 077 && openssl genrsa -traditional -out "$f.new" 2048 >>"$LOG/openssl.log" 2>&1) ||
			die "making the DKIM key $1/$2 failed, see $LOG/openssl.log"
		mv "$f.new" "$f"
	fi
	echo "$f"
}

# dkim_txt DOMAIN SELECTOR: the TXT value that publishes the key.
dkim_txt() {
	printf 'v=DKIM1; k=rsa; p=%s' "$(openssl rsa -in "$(dkim_key "$1" "$2")" -pubout -outform DER 2>/dev/null | base64 -w0)"
}

make_dkim_keys() {
	mkdir -p "$DKIM_DIR/keys"
	chmod 755 "$DKIM_DIR"
	local d
	for d in $LIST_DOMAIN $SYMPA_DOMAIN $MLMMJ_DOMAIN; do dkim_key "$d" "$LIST_SELECTOR" >/dev/null; done
	for d in $MAIL_DOMAIN $REJECT_DOMAIN; do dkim_key "$d" "$MEMBER_SELECTOR" >/dev/null; done
	dkim_key "$LIST_DOMAIN" "$ARC_SELECTOR" >/dev/null
	chown -R root:opendkim "$DKIM_DIR/keys"
	chmod 750 "$DKIM_DIR/keys"
	chmod 640 "$DKIM_DIR"/keys/*.key
	# Mailman (user list) reads its ARC key; OpenDKIM never needs it.
	local arc=$DKIM_DIR/keys/$LIST_DOMAIN.$ARC_SELECTOR.key
	mkdir -p "$DKIM_DIR/arc"
	chown root:list "$DKIM_DIR/arc"
	chmod 750 "$DKIM_DIR/arc"
	install -m 640 -o root -g list "$arc" "$DKIM_DIR/arc/arc.key.new"
	if cmp -s "$DKIM_DIR/arc/arc.key.new" "$DKIM_DIR/arc/arc.key"; then rm -f "$DKIM_DIR/arc/arc.key.new"; else mv "$DKIM_DIR/arc/arc.key.new" "$DKIM_DIR/arc/arc.key"; fi
}

configure_opendkim() {
	local new=$DKIM_DIR/opendkim.conf.new d
	{
		echo "# OpenDKIM for the listprobe testbed (written by up.sh from dkim.sh)."
		echo "Socket inet:$DKIM_PORT@127.0.0.1"
		echo "PidFile $RUN/opendkim.pid"
		echo "UserID opendkim:opendkim"
		echo "Mode s"
		echo "Syslog no"
		echo "Canonicalization relaxed/simple"
		echo "OversignHeaders From"
		echo "SignatureAlgorithm rsa-sha256"
		# The envelope sender picks the key, not From: a list's copy keeps
		# the poster's From and is signed with the list's domain.
		echo "SenderMacro {mail_addr}"
		echo "KeyTable file:$DKIM_DIR/key.table"
		echo "SigningTable refile:$DKIM_DIR/signing.table"
		# Only the listeners that have OpenDKIM as a milter reach it, all
		# from 127.0.0.1 (pickup included).
		echo "InternalHosts 127.0.0.1"
		echo "On-NoSignature accept"
		echo "On-InternalError accept"
	} >"$new"
	{
		for d in $LIST_DOMAIN $SYMPA_DOMAIN $MLMMJ_DOMAIN; do
			printf '%s\t%s:%s:%s\n' "$d" "$d" "$LIST_SELECTOR" "$DKIM_DIR/keys/$d.$LIST_SELECTOR.key"
		done
		for d in $MAIL_DOMAIN $REJECT_DOMAIN; do
			printf '%s\t%s:%s:%s\n' "$d" "$d" "$MEMBER_SELECTOR" "$DKIM_DIR/keys/$d.$MEMBER_SELECTOR.key"
		done
	} >"$DKIM_DIR/key.table.new"
	{
		for d in $LIST_DOMAIN $SYMPA_DOMAIN $MLMMJ_DOMAIN $MAIL_DOMAIN $REJECT_DOMAIN; do
			printf '*@%s\t%s\n' "$d" "$d"
		done
	} >"$DKIM_DIR/signing.table.new"
	local f
	for f in opendkim.conf key.table signing.table; do
		if cmp -s "$DKIM_DIR/$f.new" "$DKIM_DIR/$f"; then rm -f "$DKIM_DIR/$f.new"; else mv "$DKIM_DIR/$f.new" "$DKIM_DIR/$f"; fi
	done
}

opendkim_alive() {
	local pid
	pid=$({ tr -d ' \n' <"$RUN/opendkim.pid"; } 2>/dev/null) || return 1
	[ -n "$pid" ] && { tr '\0' ' ' <"/proc/$pid/cmdline"; } 2>/dev/null | grep -qF "/usr/sbin/opendkim"
}

stop_opendkim() {
	opendkim_alive || return 0
	local pid i
	pid=$(tr -d ' \n' <"$RUN/opendkim.pid")
	kill -TERM "$pid"
	for i in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
}

start_opendkim() {
	local conf="$DKIM_DIR/opendkim.conf $DKIM_DIR/key.table $DKIM_DIR/signing.table"
	if opendkim_alive && changed opendkim $conf; then
		say "restarting opendkim"
		stop_opendkim
	fi
	if ! opendkim_alive; then
		say "starting opendkim"
		/usr/sbin/opendkim -x "$DKIM_DIR/opendkim.conf" </dev/null >>"$LOG/opendkim.log" 2>&1 ||
			die "opendkim did not start, see $LOG/opendkim.log"
	fi
	loaded opendkim $conf
	wait_port "$DKIM_PORT" opendkim
}

# verify_authentication TOKEN: the reader's copies of up.sh's check posts
# (verify_delivery) are signed by their list's domain, sealed by Mailman's
# ARC, and judged by rspamd (dkim=pass for the list domain in
# Authentication-Results from mail.example.test, an X-Spam-Status).
verify_authentication() {
	local dir=$STATE/mail/$MAIL_DOMAIN/reader/Maildir out
	out=$(/usr/bin/python3 - "$dir" "$1" "$MTA_HOSTNAME" mailman="$LIST_DOMAIN" sympa="$SYMPA_DOMAIN" mlmmj="$MLMMJ_DOMAIN" 2>&1 <<-'EOF'
		import email, email.policy, glob, re, sys
		maildir, token, authserv = sys.argv[1:4]
		bad = []
		for arg in sys.argv[4:]:
		    key, domain = arg.split("=")
		    msg = None
		    for path in glob.glob(maildir + "/new/*") + glob.glob(maildir + "/cur/*"):
		        with open(path, "rb") as f:
		            m = email.message_from_binary_file(f, policy=email.policy.compat32)
		        if ("<%s.%s@" % (token, key)) in (m.get("Message-ID") or ""):
		            msg = m
		    if msg is None:
		        bad.append("%s: the reader's copy is gone" % key)
		        continue
		    unfold = lambda v: re.sub(r"\s+", " ", str(v))
		    sigs = [unfold(v) for v in msg.get_all("DKIM-Signature", [])]
		    if not any(re.search(r"(^|;)\s*d=%s\s*(;|$)" % re.escape(domain), s) for s in sigs):
		        bad.append("%s: no DKIM-Signature with d=%s (OpenDKIM, see dkim.sh)" % (key, domain))
		    ars = [unfold(v) for v in msg.get_all("Authentication-Results", []) if unfold(v).strip().startswith(authserv + ";")]
		    if not any(re.search(r"dkim=pass[^;]*header\.d=%s" % re.escape(domain), a) for a in ars):
		        bad.append("%s: rspamd's Authentication-Results do not say dkim=pass for %s: %s" % (key, domain, ars))
		    if not msg.get("X-Spam-Status"):
		        bad.append("%s: no X-Spam-Status (rspamd, see spam.sh)" % key)
		    if key == "mailman" and not msg.get("ARC-Seal"):
		        bad.append("mailman: no ARC-Seal (Mailman's [ARC], see mailman.cfg.in)")
		print("\n".join(bad))
		sys.exit(1 if bad else 0)
	EOF
	) && return 0
	printf 'testbed: error: %s\n' "$out" >&2
	return 1
}
