# spam.sh is sourced by up.sh: the readers' side, as a receiving provider
# has it. rspamd judges every message that reaches port 25 (a Postfix
# milter: X-Spam-Status, X-Spam-Flag, X-Spamd-Result and
# Authentication-Results with authserv-id mail.example.test), Dovecot's
# Sieve files it by the recipient domain's rule (Junk has SPECIAL-USE
# \Junk), and Postfix's hold table can hold one recipient's copies
# (tbctl queue hold). See README.md ("Spam filter and Junk", "Holding a
# copy").

RSPAMD_DIR=$STATE/rspamd
# The readers' MX for the list servers' copies (the "hop" transport): port
# 25's twin, with the same milter and hold table.
MX_PORT=2525
RSPAMD_MILTER_PORT=11332
RSPAMD_NORMAL_PORT=11333
RSPAMD_CONTROLLER_PORT=11334
# Scores: the trip phrases add these; X-Spam-Flag: YES from SPAM_FLAG_SCORE
# on; the stricter domain (other-reader.test) files from STRICT_SCORE on.
SPAM_FLAG_SCORE=15
STRICT_SCORE=4
TRIP_STRICT=listprobe-junk-strict
TRIP_ALL=listprobe-junk-all

# write_if_changed FILE: stdin to FILE unless FILE holds it already.
write_if_changed() {
	cat >"$1.new"
	if cmp -s "$1.new" "$1"; then rm -f "$1.new"; else mv "$1.new" "$1"; fi
}

configure_spam() {
	mkdir -p "$RSPAMD_DIR/local.d" "$RSPAMD_DIR/override.d" "$RSPAMD_DIR/db" "$RUN/rspamd"
	chown _rspamd:_rspamd "$RSPAMD_DIR/db" "$RUN/rspamd"
	# Its own configuration tree: Debian's /etc/rspamd with
	# LOCAL_CONFDIR=$RSPAMD_DIR (rspamd --var), nothing in /etc/rspamd/local.d.
	write_if_changed "$RSPAMD_DIR/local.d/options.inc" <<-EOF
		# The testbed's DNS only (DKIM keys, SPF, DMARC); every other name
		# fails at once there (REFUSED).
		dns {
		  nameserver = ["$DNS_ADDR:$DNS_PORT"];
		  timeout = 1s;
		  retransmits = 1;
		}
		# Loopback is the testbed's whole network: no address counts as
		# local, so the list server's hop (127.0.0.1) and the stranger
		# (127.0.0.2) are judged like any other sending host.
		local_addrs = [];
		# PCRE, not Hyperscan: Hyperscan's first start compiles 90 MB of
		# cache for about 45 s; the testbed's messages are small.
		disable_hyperscan = true;
	EOF
	local m
	for m in spf dkim arc dmarc; do
		printf 'check_local = true;\ncheck_authed = true;\n' | write_if_changed "$RSPAMD_DIR/local.d/$m.conf"
	done
	# No signing here (OpenDKIM signs the list servers' mail), nothing that
	# needs Redis or the web.
	for m in dkim_signing arc_signing fuzzy_check greylist ratelimit replies neural rbl surbl emails url_reputation reputation history_redis phishing asn; do
		printf 'enabled = false;\n' | write_if_changed "$RSPAMD_DIR/local.d/$m.conf"
	done
	write_if_changed "$RSPAMD_DIR/local.d/actions.conf" <<-EOF
		# The readers' filter never refuses or delays: it only says what it
		# thinks (the Sieve rules decide where that goes).
		reject = null;
		greylist = null;
		rewrite_subject = null;
		add_header = $SPAM_FLAG_SCORE;
	EOF
	write_if_changed "$RSPAMD_DIR/local.d/milter_headers.conf" <<-EOF
		use = ["x-spam-status", "spam-header", "x-spamd-result", "authentication-results"];
		skip_local = false;
		skip_authenticated = false;
		routines {
		  # X-Spam-Flag: YES from add_header ($SPAM_FLAG_SCORE) on.
		  spam-header { header = "X-Spam-Flag"; value = "YES"; remove = 0; }
		  x-spam-status { header = "X-Spam-Status"; remove = 0; }
		  x-spamd-result { header = "X-Spamd-Result"; remove = 0; }
		  authentication-results { header = "Authentication-Results"; remove = 0; add_smtp_user = false; }
		}
	EOF
	write_if_changed "$RSPAMD_DIR/rspamd.local.lua" <<-EOF
		-- The testbed's trip rules: a phrase a test can put in a list's footer
		-- or Subject (a subject_prefix, say) to make its copies look like spam.
		config['regexp']['LISTPROBE_JUNK_STRICT'] = {
		  re = 'Subject=/\\\\b$TRIP_STRICT\\\\b/i{header} | /\\\\b$TRIP_STRICT\\\\b/i{mime}',
		  score = 7.0,
		  description = 'listprobe testbed: spam for the stricter reader domain only',
		  group = 'listprobe',
		}
		config['regexp']['LISTPROBE_JUNK_ALL'] = {
		  re = 'Subject=/\\\\b$TRIP_ALL\\\\b/i{header} | /\\\\b$TRIP_ALL\\\\b/i{mime}',
		  score = 20.0,
		  description = 'listprobe testbed: spam for every reader',
		  group = 'listprobe',
		}
	EOF
	write_if_changed "$RSPAMD_DIR/override.d/worker-normal.inc" <<<"bind_socket = \"127.0.0.1:$RSPAMD_NORMAL_PORT\";"
	write_if_changed "$RSPAMD_DIR/override.d/worker-controller.inc" <<<"bind_socket = \"127.0.0.1:$RSPAMD_CONTROLLER_PORT\";"
	write_if_changed "$RSPAMD_DIR/override.d/worker-proxy.inc" <<-EOF
		bind_socket = "127.0.0.1:$RSPAMD_MILTER_PORT";
		milter = yes;
		timeout = 120s;
		upstream "local" { default = yes; self_scan = yes; }
		count = 1;
		# The proxy's own header for the add_header action (rspamd's usual
		# X-Spam: Yes); X-Spam-Flag: YES comes from milter_headers.
		spam_header = "X-Spam";
		reject_message = "Spam message rejected";
	EOF
	write_if_changed "$RSPAMD_DIR/override.d/logging.inc" <<-EOF
		type = "file";
		filename = "$LOG/rspamd.log";
		level = "notice";
	EOF
	touch "$LOG/rspamd.log"
	chown _rspamd:_rspamd "$LOG/rspamd.log"
	configure_sieve
}

# rspamd_vars: where rspamd finds the testbed's configuration and keeps its
# files (rspamd and rspamadm --var).
rspamd_vars() {
	echo "--var=LOCAL_CONFDIR=$RSPAMD_DIR --var=DBDIR=$RSPAMD_DIR/db --var=RUNDIR=$RUN/rspamd --var=LOGDIR=$LOG"
}

rspamd_alive() {
	local pid
	pid=$({ tr -d ' \n' <"$RUN/rspamd/rspamd.pid"; } 2>/dev/null) || return 1
	[ -n "$pid" ] && { tr '\0' ' ' <"/proc/$pid/cmdline"; } 2>/dev/null | grep -q "rspamd"
}

stop_rspamd() {
	rspamd_alive || return 0
	local pid i
	pid=$(tr -d ' \n' <"$RUN/rspamd/rspamd.pid")
	kill -TERM "$pid"
	for i in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
}

start_spam() {
	local conf
	conf=$(find "$RSPAMD_DIR" -maxdepth 2 -type f \( -name '*.conf' -o -name '*.inc' -o -name '*.lua' \) | sort)
	if rspamd_alive && changed rspamd $conf; then
		say "restarting rspamd (configuration changed)"
		stop_rspamd
	fi
	if ! rspamd_alive; then
		say "starting rspamd"
		# shellcheck disable=SC2046
		rspamd -c /etc/rspamd/rspamd.conf -u _rspamd -g _rspamd -p "$RUN/rspamd/rspamd.pid" $(rspamd_vars) \
			</dev/null >>"$LOG/rspamd-start.log" 2>&1 || die "rspamd did not start, see $LOG/rspamd-start.log and $LOG/rspamd.log (rspamadm $(rspamd_vars) configtest -c /etc/rspamd/rspamd.conf checks the configuration)"
	fi
	loaded rspamd $conf
	wait_port "$RSPAMD_MILTER_PORT" "rspamd milter"
}

# --- Sieve: where each reader domain files spam --------------------------------

configure_sieve() {
	local dir=$STATE/dovecot/sieve d
	mkdir -p "$dir"
	# The lenient provider (example.test, and every domain without a rule of
	# its own): Junk only when the filter flagged it.
	for d in $MAIL_DOMAIN $REJECT_DOMAIN; do
		write_if_changed "$dir/$d.sieve" <<-EOF
			# $d files in Junk only what the spam filter flagged (X-Spam-Flag: YES,
			# score $SPAM_FLAG_SCORE or more). Written by up.sh (spam.sh).
			require ["fileinto"];
			if header :is "X-Spam-Flag" "YES" {
			  fileinto "Junk";
			  stop;
			}
		EOF
	done
	# The strict provider: Junk from a score of $STRICT_SCORE on.
	write_if_changed "$dir/$READER2_DOMAIN.sieve" <<-EOF
		# $READER2_DOMAIN files in Junk what the spam filter flagged, and every
		# message scored $STRICT_SCORE or more (X-Spam-Status: ..., score=N).
		# Written by up.sh (spam.sh).
		require ["fileinto", "regex"];
		if anyof (header :is "X-Spam-Flag" "YES",
		          header :regex "X-Spam-Status" "score=([$STRICT_SCORE-9]|[1-9][0-9]+)(\\\\.[0-9]+)?([^0-9.]|\$)") {
		  fileinto "Junk";
		  stop;
		}
	EOF
	for d in $MAIL_DOMAIN $REJECT_DOMAIN $READER2_DOMAIN; do
		if [ ! -s "$dir/$d.svbin" ] || [ "$dir/$d.sieve" -nt "$dir/$d.svbin" ]; then
			sievec "$dir/$d.sieve" "$dir/$d.svbin" >>"$LOG/dovecot.log" 2>&1 ||
				die "the Sieve script $dir/$d.sieve does not compile, see $LOG/dovecot.log"
		fi
	done
	chmod 755 "$dir"
	chmod 644 "$dir"/*
}

# --- Postfix's hold table (tbctl queue hold) ------------------------------------

make_hold_table() {
	local db=$STATE/postfix/hold.sqlite
	if [ ! -s "$db" ]; then
		sqlite3 "$db" "create table if not exists hold (address text primary key, action text not null);"
	fi
	chown root:postfix "$db"
	chmod 640 "$db"
	write_if_changed "$STATE/postfix/hold.cf" <<-EOF
		# Postfix's hold table for the testbed (tbctl queue hold|release).
		dbpath = $db
		query = SELECT action FROM hold WHERE address='%s'
	EOF
	chmod 644 "$STATE/postfix/hold.cf"
}
