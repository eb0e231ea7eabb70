# dns.sh is sourced by up.sh: NSD, an authoritative DNS server on
# 127.0.0.153:53 for the testbed's zones (DKIM keys, SPF, DMARC). Nothing
# else resolves through it unless told to: the machine's /etc/resolv.conf is
# not touched; Mailman's processes see a resolv.conf naming it (a mount
# namespace, see start_mailman), rspamd is configured with it, and tests
# pass it to their resolver (LISTPROBE_TESTBED_DNS). See README.md ("DNS").

DNS_ADDR=127.0.0.153
DNS_PORT=53
DNS_DIR=$STATE/dns
# The stranger's host: mail "from another host" comes from this address.
STRANGER_ADDR=127.0.0.2
# Every zone the server is authoritative for.
DNS_ZONES="$MAIL_DOMAIN $LIST_DOMAIN $SYMPA_DOMAIN $MLMMJ_DOMAIN $READER2_DOMAIN $REJECT_DOMAIN $STRANGER_DOMAIN"

# dns_base prints the base records, NAME<TAB>TYPE<TAB>VALUE, TXT values
# unquoted (tbctl splits them into strings).
dns_base() {
	local d
	printf 'ns.%s\tA\t%s\n' "$MAIL_DOMAIN" "$DNS_ADDR"
	printf '%s\tA\t127.0.0.1\n' "$MTA_HOSTNAME"
	printf '%s\tA\t127.0.0.1\n' "$LIST_OUT_HOSTNAME"
	# SPF of its HELO name: what a null-sender DSN from a list server is
	# checked against.
	printf '%s\tTXT\tv=spf1 ip4:127.0.0.1 -all\n' "$LIST_OUT_HOSTNAME"
	# Every mail domain and list domain: mail goes to the testbed's MTA,
	# which alone may send for it (SPF), and says p=none (DMARC) unless it
	# is the poster domain that rejects.
	for d in $MAIL_DOMAIN $LIST_DOMAIN $SYMPA_DOMAIN $MLMMJ_DOMAIN $READER2_DOMAIN $REJECT_DOMAIN; do
		printf '%s\tMX\t10 %s\n' "$d" "$MTA_HOSTNAME"
		printf '%s\tTXT\tv=spf1 ip4:127.0.0.1 -all\n' "$d"
	done
	for d in $MAIL_DOMAIN $LIST_DOMAIN $SYMPA_DOMAIN $MLMMJ_DOMAIN $READER2_DOMAIN; do
		printf '_dmarc.%s\tTXT\tv=DMARC1; p=none\n' "$d"
	done
	printf '_dmarc.%s\tTXT\tv=DMARC1; p=reject; adkim=r; aspf=r\n' "$REJECT_DOMAIN"
	for d in $LIST_DOMAIN $SYMPA_DOMAIN $MLMMJ_DOMAIN; do
		printf '%s._domainkey.%s\tTXT\t%s\n' "$LIST_SELECTOR" "$d" "$(dkim_txt "$d" "$LIST_SELECTOR")"
	done
	printf '%s._domainkey.%s\tTXT\t%s\n' "$ARC_SELECTOR" "$LIST_DOMAIN" "$(dkim_txt "$LIST_DOMAIN" "$ARC_SELECTOR")"
	for d in $MAIL_DOMAIN $REJECT_DOMAIN; do
		printf '%s._domainkey.%s\tTXT\t%s\n' "$MEMBER_SELECTOR" "$d" "$(dkim_txt "$d" "$MEMBER_SELECTOR")"
	done
	# The stranger: a host of its own, allowed to send for its own domain only.
	printf 'mx.%s\tA\t%s\n' "$STRANGER_DOMAIN" "$STRANGER_ADDR"
	printf '%s\tMX\t10 mx.%s\n' "$STRANGER_DOMAIN" "$STRANGER_DOMAIN"
	printf '%s\tTXT\tv=spf1 ip4:%s -all\n' "$STRANGER_DOMAIN" "$STRANGER_ADDR"
	printf '_dmarc.%s\tTXT\tv=DMARC1; p=none\n' "$STRANGER_DOMAIN"
}

configure_dns() {
	mkdir -p "$DNS_DIR/zones.d"
	chmod 755 "$DNS_DIR" "$DNS_DIR/zones.d"
	echo "ns.$MAIL_DOMAIN" >"$DNS_DIR/ns"
	local z new=$DNS_DIR/nsd.conf.new
	printf '%s\n' $DNS_ZONES >"$DNS_DIR/zones"
	dns_base >"$DNS_DIR/base.new"
	if cmp -s "$DNS_DIR/base.new" "$DNS_DIR/base"; then rm -f "$DNS_DIR/base.new"; else mv "$DNS_DIR/base.new" "$DNS_DIR/base"; fi
	{
		echo "# NSD for the listprobe testbed (written by up.sh from dns.sh)."
		echo "server:"
		echo "  ip-address: $DNS_ADDR@$DNS_PORT"
		echo "  do-ip6: no"
		echo "  server-count: 1"
		echo "  username: nsd"
		echo "  chroot: \"\""
		echo "  database: \"\""
		echo "  zonesdir: \"$DNS_DIR/zones.d\""
		echo "  zonelistfile: \"$DNS_DIR/nsd/zone.list\""
		echo "  xfrdfile: \"$DNS_DIR/nsd/xfrd.state\""
		echo "  xfrdir: \"$DNS_DIR/nsd\""
		echo "  pidfile: \"$RUN/nsd.pid\""
		echo "  logfile: \"$LOG/nsd.log\""
		echo "  verbosity: 1"
		echo "  hide-version: yes"
		# Tests ask a lot, from one address: no rate limit.
		echo "  rrl-ratelimit: 0"
		echo "  rrl-whitelist-ratelimit: 0"
		echo "remote-control:"
		echo "  control-enable: yes"
		echo "  control-interface: $RUN/nsd.ctl"
		for z in $DNS_ZONES; do
			printf 'zone:\n  name: %s\n  zonefile: %s.zone\n' "$z" "$z"
		done
	} >"$new"
	if cmp -s "$new" "$DNS_DIR/nsd.conf"; then rm -f "$new"; else mv "$new" "$DNS_DIR/nsd.conf"; fi
	# NSD's own files, written as user nsd.
	mkdir -p "$DNS_DIR/nsd"
	touch "$LOG/nsd.log"
	chown nsd:nsd "$DNS_DIR/nsd" "$LOG/nsd.log"
	"$STATE/bin/tbctl" dns build
	# Mailman's processes read this instead of /etc/resolv.conf.
	printf '# resolv.conf for the testbed'"'"'s Mailman (bind-mounted in its mount namespace by up.sh)\nnameserver %s\noptions timeout:1 attempts:2\n' \
		"$DNS_ADDR" >"$DNS_DIR/resolv.conf.new"
	chmod 644 "$DNS_DIR/resolv.conf.new"
	if cmp -s "$DNS_DIR/resolv.conf.new" "$DNS_DIR/resolv.conf"; then rm -f "$DNS_DIR/resolv.conf.new"; else mv "$DNS_DIR/resolv.conf.new" "$DNS_DIR/resolv.conf"; fi
}

nsd_alive() {
	local pid
	pid=$({ tr -d ' \n' <"$RUN/nsd.pid"; } 2>/dev/null) || return 1
	[ -n "$pid" ] && { tr '\0' ' ' <"/proc/$pid/cmdline"; } 2>/dev/null | grep -qF "nsd -c $DNS_DIR/nsd.conf"
}

stop_dns() {
	nsd_alive || return 0
	local pid i
	pid=$(tr -d ' \n' <"$RUN/nsd.pid")
	kill -TERM "$pid"
	for i in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
}

start_dns() {
	if nsd_alive && changed nsd "$DNS_DIR/nsd.conf"; then
		say "restarting nsd (configuration changed)"
		stop_dns
	fi
	if ! nsd_alive; then
		say "starting nsd on $DNS_ADDR:$DNS_PORT"
		nsd-checkconf "$DNS_DIR/nsd.conf" >>"$LOG/nsd.log" 2>&1 || die "nsd-checkconf failed, see $LOG/nsd.log"
		# The control socket needs no keys (a unix socket).
		nsd -c "$DNS_DIR/nsd.conf" </dev/null >>"$LOG/nsd.log" 2>&1 || die "nsd did not start, see $LOG/nsd.log"
	fi
	loaded nsd "$DNS_DIR/nsd.conf"
	local i
	for i in $(seq 1 100); do nsd-control -c "$DNS_DIR/nsd.conf" status >/dev/null 2>&1 && break; sleep 0.1; done
	nsd-control -c "$DNS_DIR/nsd.conf" status >/dev/null 2>&1 || die "nsd does not answer on its control socket, see $LOG/nsd.log"
	# Zone files written while NSD was down (or before it read them).
	nsd-control -c "$DNS_DIR/nsd.conf" reload >/dev/null 2>&1 || true
	dns_check
}

# dns_check asks the server for the list domain's DKIM key, as a resolver
# would (dnspython, the library Mailman uses).
dns_check() {
	local out
	out=$(/usr/bin/python3 - "$DNS_ADDR" "$LIST_SELECTOR._domainkey.$LIST_DOMAIN" 2>&1 <<-'EOF'
		import sys, time, dns.resolver
		r = dns.resolver.Resolver(configure=False)
		r.nameservers = [sys.argv[1]]
		r.lifetime = 2
		deadline = time.time() + 10
		while True:
		    try:
		        print(b"".join(r.resolve(sys.argv[2], "TXT")[0].strings).decode()[:40])
		        break
		    except Exception as e:
		        if time.time() > deadline:
		            raise
		        time.sleep(0.1)
	EOF
	) || die "the testbed DNS on $DNS_ADDR does not answer for $LIST_SELECTOR._domainkey.$LIST_DOMAIN: $out"
	case $out in v=DKIM1*) ;; *) die "the testbed DNS answered '$out' for $LIST_SELECTOR._domainkey.$LIST_DOMAIN" ;; esac
}

# mailman_resolves_testbed PIDFILE: the Mailman master in PIDFILE sees a
# resolv.conf that names the testbed's DNS (its mount namespace's, read
# through /proc/PID/root).
mailman_resolves_testbed() {
	local pid
	pid=$(tr -d ' \n' <"$1")
	grep -q "^nameserver $DNS_ADDR\$" "/proc/$pid/root/etc/resolv.conf" 2>/dev/null
}

# write_auth_env prints the env file's lines for what dns.sh, dkim.sh and
# spam.sh add.
write_auth_env() {
	echo "LISTPROBE_TESTBED_DNS=$DNS_ADDR:$DNS_PORT"
	echo "LISTPROBE_TESTBED_DNS_ZONES=$(echo $DNS_ZONES | tr ' ' ,)"
	echo "LISTPROBE_TESTBED_TBCTL=$STATE/bin/tbctl"
	echo "LISTPROBE_TESTBED_LIST_OUT=127.0.0.1:$LIST_OUT_PORT"
	echo "LISTPROBE_TESTBED_DKIM_SELECTOR=$LIST_SELECTOR"
	echo "LISTPROBE_TESTBED_MEMBER_DKIM_SELECTOR=$MEMBER_SELECTOR"
	echo "LISTPROBE_TESTBED_ARC_SELECTOR=$ARC_SELECTOR"
	echo "LISTPROBE_TESTBED_ARC_DOMAIN=$LIST_DOMAIN"
	echo "LISTPROBE_TESTBED_AUTHSERV_ID=$MTA_HOSTNAME"
	echo "LISTPROBE_TESTBED_STRANGER_ADDR=$STRANGER_ADDR"
	echo "LISTPROBE_TESTBED_STRANGER_DOMAIN=$STRANGER_DOMAIN"
	echo "LISTPROBE_TESTBED_STRANGER_HELO=mx.$STRANGER_DOMAIN"
	echo "LISTPROBE_TESTBED_REJECT_DOMAIN=$REJECT_DOMAIN"
	echo "LISTPROBE_TESTBED_READER2_DOMAIN=$READER2_DOMAIN"
	echo "LISTPROBE_TESTBED_JUNK_MAILBOX=Junk"
	echo "LISTPROBE_TESTBED_SPAM_TRIP_STRICT=$TRIP_STRICT"
	echo "LISTPROBE_TESTBED_SPAM_TRIP_ALL=$TRIP_ALL"
	echo "LISTPROBE_TESTBED_RSPAMD_LOG=$LOG/rspamd.log"
	local o up
	for o in $OTHER_ACCOUNTS; do
		up=$(echo "${o%%=*}" | tr a-z- A-Z_)
		echo "LISTPROBE_TESTBED_${up}=${o#*=}"
		echo "LISTPROBE_TESTBED_${up}_PASSWORD_FILE=$SECRETS/${o%%=*}"
	done
}
