package config

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/listprobe/listprobe/checks/mailtls"
	"github.com/listprobe/listprobe/checks/token"
)

func TestLoadGoodConfig(t *testing.T) {
	cfg, err := LoadFile("testdata/good.yml", nil)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Signer() == nil {
		t.Fatal("no signer from signing_key_file")
	}
	m := cfg.Accounts["member"]
	if m.Name() != "member" || m.SMTP.Password() != "member-secret" || m.SMTP.Auth != "plain" || m.SMTP.TLS != mailtls.StartTLS {
		t.Errorf("member smtp = %+v, password %q", m.SMTP, m.SMTP.Password())
	}
	if m.AllowPlaintext {
		t.Error("allow_plaintext defaults to true")
	}
	r := cfg.Accounts["reader"]
	if r.IMAP.TLS != mailtls.Implicit || r.IMAP.Mailbox != "INBOX" || r.IMAP.TLSConfig() == nil || r.IMAP.TLSConfig().InsecureSkipVerify {
		t.Errorf("reader imap defaults wrong: %+v", r.IMAP)
	}
	if got := r.IMAP.TLSConfig().ServerName; got != "imap.example.org" {
		t.Errorf("TLS ServerName = %q, want imap.example.org (certificates are verified by default)", got)
	}
	announce, users := cfg.Lists[0], cfg.Lists[1]
	if announce.Expect != ExpectHeld || announce.EffectiveTimeout(cfg.Global) != 10*time.Minute || announce.ScheduleSpec(cfg.Global) != "0 * * * *" {
		t.Errorf("announce = %+v", announce)
	}
	if announce.Interval() != time.Hour || users.Interval() != 5*time.Minute {
		t.Errorf("intervals: announce %s, users %s; want 1h and 5m", announce.Interval(), users.Interval())
	}
	if users.Address != "users@lists.example.org" {
		t.Errorf("list address not lower-cased: %q", users.Address)
	}
	if users.Expect != ExpectDelivered || users.EffectiveTimeout(cfg.Global) != 4*time.Minute {
		t.Errorf("users defaults = %+v", users)
	}
	if got := time.Duration(cfg.Global.PollInterval); got != DefaultPollInterval {
		t.Errorf("poll_interval default = %s", got)
	}
	for _, w := range cfg.Warnings() {
		// git keeps the secret files of testdata at mode 0644.
		if !strings.HasSuffix(w.Field, "_file") {
			t.Errorf("good config warns: %v", w)
		}
	}
}

func TestConfigNeverPrintsSecrets(t *testing.T) {
	cfg, err := LoadFile("testdata/good.yml", nil)
	if err != nil {
		t.Fatal(err)
	}
	s := strings.Join([]string{
		fmtAny(cfg.Accounts["member"].SMTP.password), fmtAny(*cfg.Accounts["member"].SMTP),
	}, " ")
	if strings.Contains(s, "member-secret") {
		t.Errorf("secret printed: %s", s)
	}
}

// Each bad file has one mistake; the error must name the file, the line and
// the field, and say exactly what is wrong.
func TestConfigErrors(t *testing.T) {
	t.Setenv("LISTPROBE_TEST_UNSET_KEY", "")
	for _, tc := range []struct{ file, want string }{
		// Unknown keys, at any depth, with the closest known key.
		{"bad-unknown-key.yml", `bad-unknown-key.yml:14: lists[0].moderatr: unknown field; did you mean "moderator"?`},
		{"bad-unknown-global-key.yml", `bad-unknown-global-key.yml:2: global.schedual: unknown field; did you mean "schedule"?`},
		{"bad-unknown-nested-key.yml", `bad-unknown-nested-key.yml:6: accounts.member.smtp.pasword_file: unknown field; did you mean "password_file"?`},
		{"bad-unknown-top-key.yml", `bad-unknown-top-key.yml:14: mailmen: unknown field; did you mean "mailman"?`},
		{"bad-unknown-key-far.yml", `bad-unknown-key-far.yml:2: global.colour: unknown field; known fields: schedule, timeout, signing_key_file, signing_key_env, poll_interval, dns`},
		{"bad-inline-password.yml", `bad-inline-password.yml:6: accounts.member.smtp.password: unknown field; passwords are read from password_file or password_env, never written in the config`},
		// References, with the known names and the closest one.
		{"bad-unknown-list-server.yml", `bad-unknown-list-server.yml:17: lists[0].list_server: unknown list server "mian"; did you mean "main"? (known: main)`},
		{"bad-list-server-host.yml", `bad-list-server-host.yml:12: list_servers.main.hosts[1]: not a host name, domain or address`},
		{"bad-list-server-no-receiver.yml", `bad-list-server-no-receiver.yml:12: list_servers.main.hosts: needs receiver_hosts or authserv_ids: only the receiving server's own Received field can name the list server`},
		{"bad-dns-server.yml", `bad-dns-server.yml:3: global.dns.server: want host:port or an IP address`},
		{"bad-unknown-account.yml", `bad-unknown-account.yml:12: lists[0].poster: unknown account "membr"; did you mean "member"? (known: member, reader)`},
		{"bad-readers-both.yml", `bad-readers-both.yml:14: lists[0].readers: set reader or readers, not both`},
		{"bad-readers-unknown.yml", `bad-readers-unknown.yml:15: lists[0].readers[1]: unknown account "readr"; did you mean "reader"? (known: member, reader)`},
		{"bad-readers-duplicate.yml", `bad-readers-duplicate.yml:13: lists[0].readers[1]: account "reader" is already readers[0]`},
		{"bad-readers-no-imap.yml", `bad-readers-no-imap.yml:13: lists[0].readers[1]: account "member" has no imap server to read copies from`},
		{"bad-unknown-reader.yml", `bad-unknown-reader.yml:13: lists[0].reader: unknown account "nobody" (known: member, reader)`},
		{"bad-unknown-moderator.yml", `bad-unknown-moderator.yml:14: lists[0].moderator: unknown account "readr"; did you mean "reader"? (known: member, reader)`},
		{"bad-unknown-mailman.yml", `bad-unknown-mailman.yml:14: lists[0].mailman: unknown mailman server "main" (none are configured)`},
		{"bad-poster-no-smtp.yml", `bad-poster-no-smtp.yml:12: lists[0].poster: account "reader" has no smtp server to post with`},
		// Values.
		{"bad-cron.yml", `bad-cron.yml:3: global.schedule: "*/5 * * *" is not a cron schedule: expected exactly 5 fields, found 4: [*/5 * * *]`},
		{"bad-cron-every.yml", `bad-cron-every.yml:3: global.schedule: "every 5m" is not a cron schedule: expected exactly 5 fields, found 2: [every 5m]; did you mean "@every 5m"?`},
		{"bad-cron-hourly.yml", `bad-cron-hourly.yml:3: global.schedule: "hourly" is not a cron schedule: expected exactly 5 fields, found 1: [hourly]; did you mean "@hourly"?`},
		{"bad-cron-duration.yml", `bad-cron-duration.yml:3: global.schedule: "10m" is not a cron schedule: expected exactly 5 fields, found 1: [10m]; did you mean "@every 10m"?`},
		{"bad-schedule-too-fast.yml", `bad-schedule-too-fast.yml:14: lists[0].schedule: "@every 30s" runs every 30s; the shortest interval allowed is 1m, because every probe posts a message to each subscriber of the list`},
		{"bad-schedule-never.yml", `bad-schedule-never.yml:14: lists[0].schedule: "0 0 30 2 *" never runs`},
		{"bad-timeout-interval.yml", `bad-timeout-interval.yml:4: global.timeout: 5m is not shorter than the interval of the schedule "@every 5m" (5m): a probe must end before the next one starts`},
		{"bad-list-timeout.yml", `bad-list-timeout.yml:14: lists[0].timeout: 6m is not shorter than the interval of the schedule "*/5 * * * *" (5m): a probe must end before the next one starts`},
		{"bad-schedule-timeout.yml", `bad-schedule-timeout.yml:14: lists[0].schedule: "*/3 * * * *" runs every 3m, which is not longer than the timeout 4m (global.timeout): set a shorter timeout for this list`},
		{"bad-duration.yml", `bad-duration.yml:3: global.timeout: "5 minutes" is not a duration like 90s or 5m`},
		{"bad-duration-list.yml", `bad-duration-list.yml:14: lists[0].timeout: "240" is not a duration like 90s or 5m`},
		{"bad-negative-refresh.yml", `bad-negative-refresh.yml:11: mailman.main.refresh: must be positive`},
		{"bad-tls-mode.yml", `bad-tls-mode.yml:6: accounts.member.smtp.tls: "ssl" is not tls, starttls or none`},
		{"bad-auth.yml", `bad-auth.yml:6: accounts.member.smtp.auth: "cram-md5" is not one of plain, login, oauthbearer, anonymous, external, none`},
		{"bad-expect.yml", `bad-expect.yml:13: lists[0].expect: "bounced" is not delivered or held`},
		{"bad-list-address.yml", `bad-list-address.yml:11: lists[0].address: "users at lists" is not a bare mail address like list@example.org`},
		{"bad-list-address-idna.yml", `bad-list-address-idna.yml:11: lists[0].address: "liste@-exämple.test": domain "-exämple.test" is not a valid international domain name: idna: invalid label "-exämple"`},
		{"bad-account-address-idna.yml", `bad-account-address-idna.yml:5: accounts.member.address: "probe@exämple\u200d.test": domain "exämple\u200d.test" is not a valid international domain name: idna: invalid label "exämple\u200d"`},
		{"bad-list-address-long.yml", `bad-list-address-long.yml:11: lists[0].address: is 126 bytes long; a probe token carries at most 125, so every probe of this list would be lost`},
		{"bad-host-port.yml", `bad-host-port.yml:9: accounts.reader.imap.address: "imap.example.org" is not host:port`},
		{"bad-duplicate-list.yml", `bad-duplicate-list.yml:14: lists[1].address: users@lists.example.org is already configured as lists[0]`},
		{"bad-type.yml", `bad-type.yml:8: accounts.reader.cleanup: "yes please" is not true or false`},
	} {
		checkConfigError(t, tc.file, tc.want)
	}
}

// Secrets, passwords in clear text and the file's shape: each mistake
// gets its own message, naming the line and the field.
func TestConfigSecretAndShapeErrors(t *testing.T) {
	t.Setenv("LISTPROBE_TEST_UNSET_KEY", "")
	for _, tc := range []struct{ file, want string }{
		// Secrets: files, variables, keys.
		{"bad-missing-secret.yml", `bad-missing-secret.yml:6: accounts.member.smtp.password_file: cannot read the secret file $DIR/missing.password (missing.password, relative to the config file's directory): no such file or directory`},
		{"bad-empty-secret.yml", `bad-empty-secret.yml:9: accounts.reader.imap.password_file: the secret file is empty`},
		{"bad-unset-env.yml", `bad-unset-env.yml:2: global.signing_key_env: the environment variable it names is not set or is empty`},
		{"bad-no-signing-key.yml", `bad-no-signing-key.yml:1: global.signing_key_file: signing_key_file or signing_key_env is required`},
		{"bad-short-key.yml", `bad-short-key.yml:2: global.signing_key_file: signing key is 14 bytes long, want at least 16`},
		// Values that may hold a secret are never quoted back.
		{"bad-mailman-url.yml", `bad-mailman-url.yml:11: mailman.main.url: is not an http or https URL like https://lists.example.org/3.1`},
		{"bad-mailman-userinfo.yml", `bad-mailman-userinfo.yml:11: mailman.main.url: must not contain a user name or password; use username and password_file`},
		{"bad-mailman-userinfo-scheme.yml", `bad-mailman-userinfo-scheme.yml:11: mailman.main.url: must not contain a user name or password; use username and password_file`},
		{"bad-mailman-userinfo-bare.yml", `bad-mailman-userinfo-bare.yml:11: mailman.main.url: must not contain a user name or password; use username and password_file`},
		{"bad-mailman-query.yml", `bad-mailman-query.yml:11: mailman.main.url: must not contain a query or fragment`},
		{"bad-mailman-bad-port.yml", `bad-mailman-bad-port.yml:11: mailman.main.url: is not an http or https URL like https://lists.example.org/3.1`},
		{"bad-password-in-env.yml", `bad-password-in-env.yml:6: accounts.member.smtp.password_env: the environment variable it names is not set or is empty`},
		{"bad-password-in-file.yml", `bad-password-in-file.yml:6: accounts.member.smtp.password_file: cannot read the secret file in $DIR (its name is not shown: with neither a / nor a dot it may be a password written there by mistake): no such file or directory`},
		{"bad-pasted-secret.yml", `bad-pasted-secret.yml:6: accounts.member.smtp: a key without a value that is not a known field (not shown: it may be a secret pasted by mistake); known fields: address, tls, ca_file, insecure_skip_verify, server_name, username, password_file, password_env, auth`},
		{"bad-address-url.yml", `bad-address-url.yml:6: accounts.member.smtp.address: must be host:port, without a scheme, user name or password`},
		// Passwords in clear text to a host that is not loopback.
		{"bad-plaintext-smtp.yml", `bad-plaintext-smtp.yml:6: accounts.member.smtp.tls: none would send the password (SMTP AUTH plain) to smtp.example.org unencrypted; use tls or starttls, or set accounts.member.allow_plaintext: true if the network is trusted`},
		{"bad-plaintext-imap.yml", `bad-plaintext-imap.yml:9: accounts.reader.imap.tls: none would send the password (IMAP LOGIN) to imap.example.org unencrypted; use tls or starttls, or set accounts.reader.allow_plaintext: true if the network is trusted`},
		{"bad-plaintext-mailman.yml", `bad-plaintext-mailman.yml:11: mailman.main.url: http:// would send the REST password to lists.example.org unencrypted; use https, or set mailman.main.allow_plaintext: true if the network is trusted`},
		// The shape of the file.
		{"bad-syntax.yml", `bad-syntax.yml:1: did not find expected node content`},
		{"bad-empty.yml", `bad-empty.yml: config is empty`},
		{"bad-duplicate-key.yml", `bad-duplicate-key.yml:14: lists[0].poster: set twice (first on line 12)`},
		{"bad-second-document.yml", `bad-second-document.yml:14: a second YAML document (after ---): the config is one document`},
		{"bad-not-mapping.yml", `bad-not-mapping.yml:4: accounts: must be a mapping (key: value), not a list (- item)`},
		{"bad-account-not-mapping.yml", `bad-account-not-mapping.yml:10: accounts.moderator: must be a mapping (key: value), not a single value`},
		{"bad-empty-account.yml", `bad-empty-account.yml:10: accounts.moderator: account is empty`},
		{"bad-empty-list-server.yml", `bad-empty-list-server.yml:11: list_servers.main: list server is empty`},
	} {
		checkConfigError(t, tc.file, tc.want)
	}
}

// checkConfigError checks that loading testdata/file fails with want
// ($DIR: the testdata directory's absolute path).
func checkConfigError(t *testing.T, file, want string) {
	t.Helper()
	t.Run(file, func(t *testing.T) {
		_, err := LoadFile(filepath.Join("testdata", file), nil)
		if err == nil {
			t.Fatal("loaded without error")
		}
		dir, absErr := filepath.Abs("testdata")
		if absErr != nil {
			t.Fatal(absErr)
		}
		want := "testdata/" + strings.ReplaceAll(want, "$DIR", dir)
		if err.Error() != want {
			t.Errorf("error:\n got: %s\nwant: %s", err, want)
		}
	})
}

// A file with several mistakes gets all of them at once, in line order,
// each with its field.
func TestConfigErrorsAllAtOnceInLineOrder(t *testing.T) {
	_, err := LoadFile("testdata/bad-several.yml", nil)
	want := strings.Join([]string{
		`testdata/bad-several.yml:2: global.schedual: unknown field; did you mean "schedule"?`,
		`testdata/bad-several.yml:7: accounts.member.smtp.tls: "ssl" is not tls, starttls or none`,
		`testdata/bad-several.yml:13: lists[0].poster: unknown account "membr"; did you mean "member"? (known: member, reader)`,
		`testdata/bad-several.yml:15: lists[0].timeout: "240" is not a duration like 90s or 5m`,
		`testdata/bad-several.yml:19: lists[1].expect: "bounced" is not delivered or held`,
		`testdata/bad-several.yml:20: lists[1].moderatr: unknown field; did you mean "moderator"?`,
	}, "\n")
	if err == nil || err.Error() != want {
		t.Fatalf("errors:\n%v\nwant:\n%s", err, want)
	}
	var errs ConfigErrors
	if !errors.As(err, &errs) || len(errs) != 6 {
		t.Fatalf("error is not ConfigErrors of 6: %T %v", err, err)
	}
	var one *ConfigError
	if !errors.As(err, &one) || one.Field != "global.schedual" || one.Line != 2 {
		t.Errorf("first ConfigError = %+v", one)
	}
}

// No error message, for any bad file, quotes a secret: every one written
// where it does not belong is "TopSecret99".
func TestConfigErrorsNeverEchoSecrets(t *testing.T) {
	files, err := filepath.Glob("testdata/bad-*.yml")
	if err != nil || len(files) < 40 {
		t.Fatalf("%d bad files: %v", len(files), err)
	}
	echoed := 0
	for _, file := range files {
		data, _ := os.ReadFile(file)
		_, err := LoadFile(file, nil)
		if err == nil {
			t.Errorf("%s loaded", file)
			continue
		}
		if strings.Contains(string(data), "TopSecret99") {
			echoed++
			if strings.Contains(err.Error(), "TopSecret99") || strings.Contains(err.Error(), "restadmin:") {
				t.Errorf("%s: a secret is echoed: %v", file, err)
			}
		}
	}
	if echoed < 8 {
		t.Errorf("only %d files try to echo a secret", echoed)
	}
}

// writeConfig writes a config into a temporary directory with the secret
// files it may name, and returns its path.
func writeConfig(t *testing.T, text string) string {
	t.Helper()
	dir := t.TempDir()
	for _, f := range []string{"signing.key", "member.password", "reader.password"} {
		data, err := os.ReadFile(filepath.Join("testdata", f))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, f), data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	file := filepath.Join(dir, "listprobe.yml")
	if err := os.WriteFile(file, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	return file
}

// plaintextConfig has a member that posts and reads with tls: none on
// host, and a Mailman server on http:// to host.
func plaintextConfig(host string, allow bool) string {
	allowLine := ""
	if allow {
		allowLine = "    allow_plaintext: true\n"
	}
	hostPort := func(port string) string {
		if strings.Contains(host, ":") {
			return "[" + host + "]:" + port
		}
		return host + ":" + port
	}
	mailmanAllow := ""
	if allow {
		mailmanAllow = ", allow_plaintext: true"
	}
	return fmt.Sprintf(`global:
  signing_key_file: signing.key
accounts:
  member:
    address: probe@example.org
%s    smtp: { address: %q, tls: none, auth: login, username: probe@example.org, password_file: member.password }
    imap: { address: %q, tls: none, username: probe@example.org, password_file: member.password }
mailman:
  main: { url: "http://%s/3.1", username: restadmin, password_file: member.password%s }
lists:
  - address: users@lists.example.org
    poster: member
    reader: member
    mailman: main
`, allowLine, hostPort("25"), hostPort("143"), hostPort("8001"), mailmanAllow)
}

// Passwords go unencrypted only to loopback, as written (no DNS), unless
// the account or server allows it; allowed, it is a warning.
func TestPlaintextOnlyToLoopback(t *testing.T) {
	for _, host := range []string{"127.0.0.1", "127.45.6.7", "::1", "localhost", "LocalHost", "localhost.", "::ffff:127.0.0.1"} {
		t.Run("loopback "+host, func(t *testing.T) {
			cfg, err := LoadFile(writeConfig(t, plaintextConfig(host, false)), nil)
			if err != nil {
				t.Fatalf("refused: %v", err)
			}
			if w := cfg.Warnings(); len(w) != 0 {
				t.Errorf("warnings: %v", w)
			}
		})
	}
	for _, host := range []string{"smtp.example.org", "10.0.0.1", "192.168.1.1", "::2", "fe80::1", "0.0.0.0", "localhost.example.org", "127.0.0.1.nip.io", "localhost6", "128.0.0.1"} {
		t.Run("remote "+host, func(t *testing.T) {
			_, err := LoadFile(writeConfig(t, plaintextConfig(host, false)), nil)
			var errs ConfigErrors
			if !errors.As(err, &errs) {
				t.Fatalf("accepted, or not a ConfigErrors: %v", err)
			}
			var fields []string
			for _, e := range errs {
				fields = append(fields, e.Field)
			}
			if got := strings.Join(fields, " "); got != "accounts.member.smtp.tls accounts.member.imap.tls mailman.main.url" {
				t.Errorf("fields %q; errors:\n%v", got, err)
			}
			cfg, err := LoadFile(writeConfig(t, plaintextConfig(host, true)), nil)
			if err != nil {
				t.Fatalf("refused with allow_plaintext: %v", err)
			}
			var warned []string
			for _, w := range cfg.Warnings() {
				warned = append(warned, w.Field)
			}
			if got := strings.Join(warned, " "); got != "accounts.member.smtp.tls accounts.member.imap.tls mailman.main.url" {
				t.Errorf("warnings for %q: %v", got, cfg.Warnings())
			}
		})
	}
}

// Authentication that sends no password may go without TLS anywhere.
func TestPlaintextWithoutPasswordIsAllowed(t *testing.T) {
	for _, auth := range []string{"none", "anonymous", "external"} {
		text := strings.Replace(plaintextConfig("smtp.example.org", false), "auth: login", "auth: "+auth, 1)
		_, err := LoadFile(writeConfig(t, text), nil)
		var errs ConfigErrors
		if !errors.As(err, &errs) {
			t.Fatalf("auth %s: %v", auth, err)
		}
		for _, e := range errs {
			if e.Field == "accounts.member.smtp.tls" {
				t.Errorf("auth %s refused: %v", auth, e)
			}
		}
	}
}

func TestWarnings(t *testing.T) {
	text := `global:
  signing_key_file: signing.key
accounts:
  member:
    address: probe@example.org
    smtp: { address: "smtp.example.org:587", username: probe@example.org, password_file: member.password, insecure_skip_verify: true }
  reader:
    address: reader@example.org
    imap: { address: "imap.example.org:993", username: reader@example.org, password_file: reader.password }
mailman:
  main:
    url: https://lists.example.org/3.1
    username: restadmin
    password_file: reader.password
    insecure_skip_verify: true
lists:
  - address: users@lists.example.org
    poster: member
    reader: reader
`
	file := writeConfig(t, text)
	if err := os.Chmod(filepath.Join(filepath.Dir(file), "member.password"), 0o640); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(filepath.Join(filepath.Dir(file), "signing.key"), 0o604); err != nil {
		t.Fatal(err)
	}
	cfg, err := LoadFile(file, nil)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, w := range cfg.Warnings() {
		got = append(got, strings.TrimPrefix(w.String(), file))
	}
	want := []string{
		":2: global.signing_key_file: the secret file can be read by group or others (mode 0604); chmod 600 it",
		":6: accounts.member.smtp.insecure_skip_verify: the server's certificate is not verified: anyone on the path can read the password",
		":6: accounts.member.smtp.password_file: the secret file can be read by group or others (mode 0640); chmod 600 it",
		":15: mailman.main.insecure_skip_verify: the server's certificate is not verified: anyone on the path can read the password",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("warnings:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	// Fixed on disk, the warning goes without a reload.
	os.Chmod(filepath.Join(filepath.Dir(file), "member.password"), 0o600)
	os.Chmod(filepath.Join(filepath.Dir(file), "signing.key"), 0o600)
	if n := len(cfg.Warnings()); n != 2 {
		t.Errorf("%d warnings after chmod 600, want the 2 insecure_skip_verify", n)
	}
}

// The TLS settings are the same for every kind of server: ca_file adds to
// the system roots, server_name overrides the host.
func TestTLSSettings(t *testing.T) {
	text := `global:
  signing_key_file: signing.key
accounts:
  member:
    address: probe@example.org
    smtp: { address: "127.0.0.1:587", username: probe@example.org, password_file: member.password, ca_file: ca.pem, server_name: mail.example.test }
  reader:
    address: reader@example.org
    imap: { address: "imap.example.org:993", username: reader@example.org, password_file: reader.password, ca_file: ca.pem }
mailman:
  main: { url: "https://lists.example.org/3.1", username: restadmin, password_file: reader.password, ca_file: ca.pem }
lists:
  - address: users@lists.example.org
    poster: member
    reader: reader
`
	file := writeConfig(t, text)
	dir := filepath.Dir(file)
	if err := os.WriteFile(filepath.Join(dir, "ca.pem"), testCA(t), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg, err := LoadFile(file, nil)
	if err != nil {
		t.Fatal(err)
	}
	smtp, imap, mm := cfg.Accounts["member"].SMTP.TLSConfig(), cfg.Accounts["reader"].IMAP.TLSConfig(), cfg.Mailman["main"].TLSConfig()
	if smtp.ServerName != "mail.example.test" || imap.ServerName != "imap.example.org" || mm.ServerName != "lists.example.org" {
		t.Errorf("server names %q %q %q", smtp.ServerName, imap.ServerName, mm.ServerName)
	}
	if smtp.RootCAs == nil || !smtp.RootCAs.Equal(imap.RootCAs) || !smtp.RootCAs.Equal(mm.RootCAs) {
		t.Error("ca_file not applied alike to smtp, imap and mailman")
	}
	if smtp.InsecureSkipVerify || imap.InsecureSkipVerify || mm.InsecureSkipVerify {
		t.Error("verification off by default")
	}
	os.WriteFile(filepath.Join(dir, "ca.pem"), []byte("not a certificate\n"), 0o644)
	_, err = LoadFile(file, nil)
	if err == nil || !strings.Contains(err.Error(), ":6: accounts.member.smtp.ca_file: the CA file holds no PEM certificate") {
		t.Errorf("bad CA file: %v", err)
	}
}

// testCA returns a self-signed CA certificate in PEM.
func testCA(t *testing.T) []byte {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "listprobe test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}

// The schedule may not fire more often than once a minute, unless the
// loader is told otherwise (the demo and tests, never the file).
func TestScheduleFloor(t *testing.T) {
	base := "global:\n  schedule: %q\n  timeout: 20s\n  signing_key_file: signing.key\n" +
		"accounts:\n  member:\n    address: probe@example.org\n    smtp: { address: \"smtp.example.org:587\", username: probe@example.org, password_file: member.password }\n" +
		"  reader:\n    address: reader@example.org\n    imap: { address: \"imap.example.org:993\", username: reader@example.org, password_file: reader.password }\n" +
		"lists:\n  - address: users@lists.example.org\n    poster: member\n    reader: reader\n"
	for _, tc := range []struct {
		spec string
		ok   bool
	}{
		{"@every 1m", true},
		{"* * * * *", true},
		{"*/1 * * * *", true},
		{"@every 61s", true},
		{"@every 59s", false},
		{"@every 30s", false},
		{"@every 1s", false},
		{"@every 0s", false},
		{"@every -5m", false},
		{"@every 59999ms", false},
	} {
		file := writeConfig(t, fmt.Sprintf(base, tc.spec))
		_, err := LoadFile(file, nil)
		if tc.ok != (err == nil) {
			t.Errorf("%q: %v", tc.spec, err)
		}
		if err != nil && !strings.Contains(err.Error(), "global.schedule: ") {
			t.Errorf("%q: error without the field: %v", tc.spec, err)
		}
		if err != nil && !strings.Contains(err.Error(), "the shortest interval allowed is 1m, because every probe posts a message to each subscriber of the list") {
			t.Errorf("%q: error without the reason: %v", tc.spec, err)
		}
	}
	file := writeConfig(t, strings.Replace(fmt.Sprintf(base, "@every 2s"), "timeout: 20s", "timeout: 1s", 1))
	cfg, err := LoadFile(file, &Options{MinInterval: time.Second})
	if err != nil {
		t.Fatalf("MinInterval 1s: %v", err)
	}
	if got := cfg.Lists[0].Interval(); got != 2*time.Second {
		t.Errorf("interval %s", got)
	}
}

// A list address of 125 bytes fits in a probe token and is found again in
// a subject; 126 bytes would not, and is refused at load.
func TestListAddressFitsTheToken(t *testing.T) {
	signer, err := token.NewSigner([]byte("0123456789abcdef0123456789abcdef"))
	if err != nil {
		t.Fatal(err)
	}
	domain := "@lists.example.org"
	fits := strings.Repeat("a", MaxListAddressLen-len(domain)) + domain
	tok := signer.Encode(signer.NewToken(fits, time.Now()))
	found := token.Find("Subject: [probe] " + tok)
	if len(found) != 1 {
		t.Fatalf("a %d-byte list's token is not found: %v", len(fits), found)
	}
	if got, err := signer.Verify(found[0]); err != nil || got.List != fits {
		t.Fatalf("token of a %d-byte list: %v %v", len(fits), got, err)
	}
	long := "a" + fits
	if found := token.Find("Subject: [probe] " + signer.Encode(signer.NewToken(long, time.Now()))); len(found) == 1 {
		if got, err := signer.Verify(found[0]); err == nil && got.List == long {
			t.Fatal("a 126-byte list's token is found after all: raise MaxListAddressLen")
		}
	}
	text := func(addr string) string {
		return "global:\n  signing_key_file: signing.key\naccounts:\n  m:\n    address: probe@example.org\n" +
			"    smtp: { address: \"smtp.example.org:587\", username: probe@example.org, password_file: member.password }\n" +
			"    imap: { address: \"imap.example.org:993\", username: probe@example.org, password_file: member.password }\n" +
			"lists:\n  - address: " + addr + "\n    poster: m\n    reader: m\n"
	}
	if _, err := LoadFile(writeConfig(t, text(fits)), nil); err != nil {
		t.Errorf("125 bytes refused: %v", err)
	}
	for _, addr := range []string{long, strings.Repeat("b", 200) + domain} {
		_, err := LoadFile(writeConfig(t, text(addr)), nil)
		if err == nil || !strings.Contains(err.Error(), "lists[0].address: is ") || !strings.Contains(err.Error(), "so every probe of this list would be lost") {
			t.Errorf("%d bytes: %v", len(addr), err)
		}
	}
}

// minInterval, computed from the schedule's fields, agrees with stepping
// through the schedule's runs.
func TestMinIntervalMatchesTheRuns(t *testing.T) {
	for _, spec := range []string{
		"*/5 * * * *", "0 * * * *", "0,59 * * * *", "59 23 * * *", "0 9 * * 1-5", "0 9 * * 1", "0 0 1 * *",
		"0 0 29 2 *", "0 0 29 2 1", "30 2 31 * *", "0 0 1,31 * *", "*/7 */5 * * *", "0,1 0 * * 0,6",
		"@hourly", "@daily", "@weekly", "@monthly", "@yearly", "* * * * *", "15,45 8-17 * * mon-fri",
		"0 0,23 * 1,12 *", "59 23 31 12 *", "0 0 1 1 *", "0 12 13 * 5",
	} {
		s, err := cronParser.Parse("CRON_TZ=UTC " + spec)
		if err != nil {
			t.Fatalf("%s: %v", spec, err)
		}
		fast, slow := minInterval(s), bruteInterval(s)
		if fast != slow {
			t.Errorf("%q: minInterval %s, runs say %s", spec, fast, slow)
		}
	}
	for _, spec := range []string{"@every 90s", "@every 1h30m"} {
		s, _ := cronParser.Parse(spec)
		if got, want := minInterval(s), bruteInterval(s); got != want {
			t.Errorf("%q: %s, want %s", spec, got, want)
		}
	}
	feb30, _ := cronParser.Parse("0 0 30 2 *")
	if got := minInterval(feb30); got != never {
		t.Errorf("a schedule that never runs: %s", got)
	}
}

// bruteInterval steps through 30 years of runs, or 30,000 runs.
func bruteInterval(s interface{ Next(time.Time) time.Time }) time.Duration {
	t := s.Next(time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC))
	end := t.AddDate(30, 0, 0)
	best := time.Duration(1<<63 - 1)
	for i := 0; t.Before(end) && i < 30000; i++ {
		n := s.Next(t)
		if n.IsZero() {
			break
		}
		best = min(best, n.Sub(t))
		t = n
	}
	return best
}

// Anchors and merge keys work as YAML says, and their fields are checked
// like any other.
func TestAnchorsAndMerges(t *testing.T) {
	text := `global:
  signing_key_file: signing.key
accounts:
  member:
    address: probe@example.org
    smtp: &smtp { address: "smtp.example.org:587", username: probe@example.org, password_file: member.password }
  poster2:
    address: probe2@example.org
    smtp:
      <<: *smtp
      username: probe2@example.org
  reader:
    address: reader@example.org
    imap: { address: "imap.example.org:993", username: reader@example.org, password_file: reader.password }
lists:
  - &list { address: users@lists.example.org, poster: member, reader: reader }
  - <<: *list
    address: other@lists.example.org
    poster: poster2
`
	cfg, err := LoadFile(writeConfig(t, text), nil)
	if err != nil {
		t.Fatal(err)
	}
	p2 := cfg.Accounts["poster2"].SMTP
	if p2.Username != "probe2@example.org" || p2.Address != "smtp.example.org:587" || p2.Password() != "member-secret" {
		t.Errorf("merged smtp = %+v", p2)
	}
	if l := cfg.Lists[1]; l.Address != "other@lists.example.org" || l.Poster != "poster2" || l.Reader != "reader" {
		t.Errorf("merged list = %+v", l)
	}
	bad := strings.Replace(text, "      username: probe2@example.org", "      usernam: probe2@example.org", 1)
	_, err = LoadFile(writeConfig(t, bad), nil)
	if err == nil || !strings.Contains(err.Error(), `:11: accounts.poster2.smtp.usernam: unknown field; did you mean "username"?`) {
		t.Errorf("typo under a merge: %v", err)
	}
}

// Aliases cannot make a small file expensive to load: merges of merges
// would visit 10^11 keys here.
func TestAliasExpansionIsBounded(t *testing.T) {
	var b strings.Builder
	b.WriteString("x0: &x0 {address: a@b.example, poster: p, reader: r}\n")
	for i := 1; i < 12; i++ {
		fmt.Fprintf(&b, "x%d: &x%d {<<: [", i, i)
		for j := range 10 {
			if j > 0 {
				b.WriteString(", ")
			}
			fmt.Fprintf(&b, "*x%d", i-1)
		}
		b.WriteString("]}\n")
	}
	b.WriteString("lists: [*x11, *x11]\n")
	done := make(chan error, 1)
	go func() {
		_, err := Load("bomb.yml", []byte(b.String()), nil)
		done <- err
	}()
	select {
	case err := <-done:
		if err == nil || !strings.Contains(err.Error(), "the document expands too far through aliases") {
			t.Fatalf("alias bomb: %v", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("loading an alias bomb takes more than 20 s")
	}
}

// A self-referencing merge is an error, not a hang.
func TestSelfMerge(t *testing.T) {
	_, err := Load("self.yml", []byte("global: &g\n  <<: *g\n"), nil)
	if err == nil {
		t.Fatal("loaded")
	}
}

// A secret named as a device or a FIFO does not hang the load.
func TestSecretFileMustBeRegular(t *testing.T) {
	text := strings.Replace(plaintextConfig("127.0.0.1", false), "password_file: member.password", "password_file: /dev/zero", 1)
	_, err := LoadFile(writeConfig(t, text), nil)
	if err == nil || !strings.Contains(err.Error(), "accounts.member.smtp.password_file: cannot read the secret file /dev/zero: not a regular file") {
		t.Errorf("/dev/zero: %v", err)
	}
}

func TestSuggestions(t *testing.T) {
	for _, tc := range []struct {
		s     string
		known []string
		want  string
	}{
		{"membr", []string{"member", "reader"}, "member"},
		{"Member", []string{"member", "reader"}, "member"},
		{"readr", []string{"member", "reader"}, "reader"},
		{"ca", []string{"address", "tls", "ca_file"}, "ca_file"},
		{"xyz", []string{"member", "reader"}, ""},
		{"schedual", []string{"schedule", "timeout"}, "schedule"},
		{"x", nil, ""},
	} {
		got, _ := closest(tc.s, tc.known)
		if got != tc.want {
			t.Errorf("closest(%q) = %q, want %q", tc.s, got, tc.want)
		}
	}
	many := make([]string, 25)
	for i := range many {
		many[i] = fmt.Sprintf("acct%02d", i)
	}
	if got := suggest("acct1", many); got != `; did you mean "acct01"? (known: acct00, acct01, acct02, acct03, acct04, acct05, acct06, acct07, acct08, acct09 and 15 more)` {
		t.Errorf("suggest among many: %s", got)
	}
}

// Every file field's error names the file it tried, resolved: a missing
// signing key, password, Mailman password, DKIM key or CA file, given as
// an absolute path or relative to the config file's directory.
func TestMissingFilesAreNamedByTheirResolvedPath(t *testing.T) {
	base := plaintextConfig("127.0.0.1", false)
	for _, tc := range []struct{ field, from, to, want string }{
		{"global.signing_key_file", "signing_key_file: signing.key", "signing_key_file: keys/signing.key", "cannot read the secret file $DIR/keys/signing.key (keys/signing.key, relative to the config file's directory): no such file or directory"},
		{"accounts.member.smtp.password_file", "auth: login, username: probe@example.org, password_file: member.password", "auth: login, username: probe@example.org, password_file: /nonexistent/member.password", "cannot read the secret file /nonexistent/member.password: no such file or directory"},
		{"mailman.main.password_file", "restadmin, password_file: member.password", "restadmin, password_file: ../gone/mailman.password", "cannot read the secret file $PARENT/gone/mailman.password (../gone/mailman.password, relative to the config file's directory): no such file or directory"},
		{"accounts.member.smtp.ca_file", "tls: none, auth: login", "tls: tls, ca_file: ca.pem, auth: login", "cannot read the CA file $DIR/ca.pem (ca.pem, relative to the config file's directory): no such file or directory"},
		{"accounts.member.dkim.private_key_file", "    address: probe@example.org\n", "    address: probe@example.org\n    dkim: { domain: example.org, selector: probe, private_key_file: /run/credentials/listprobe.service/secrets_dkim }\n", "cannot read the DKIM key /run/credentials/listprobe.service/secrets_dkim: no such file or directory; it is a systemd credential, which exists only inside the service: outside it, check the config with --config.check-secrets=false"},
	} {
		t.Run(tc.field, func(t *testing.T) {
			t.Setenv("CREDENTIALS_DIRECTORY", "")
			text := strings.Replace(base, tc.from, tc.to, 1)
			if text == base {
				t.Fatalf("the test's config has no %q", tc.from)
			}
			file := writeConfig(t, text)
			_, err := LoadFile(file, nil)
			dir := filepath.Dir(file)
			want := tc.field + ": " + strings.NewReplacer("$DIR", dir, "$PARENT", filepath.Dir(dir)).Replace(tc.want)
			if err == nil || !strings.Contains(err.Error(), want) {
				t.Errorf("error:\n got: %v\nwant: ...%s", err, want)
			}
		})
	}
}

// SkipSecrets (check-config --config.check-secrets=false) checks all but
// the secrets, which exist only inside the service: the packaged config,
// whose secrets are systemd credentials, is valid with it.
func TestSkipSecretsChecksEverythingButTheSecrets(t *testing.T) {
	t.Setenv("CREDENTIALS_DIRECTORY", "")
	const packaged = "../../deploy/systemd/listprobe.yml"
	_, err := LoadFile(packaged, nil)
	if err == nil || !strings.Contains(err.Error(), "/run/credentials/listprobe.service/secrets_signing_key: no such file or directory; it is a systemd credential") {
		t.Errorf("the packaged config without its credentials: %v", err)
	}
	if _, err := LoadFile(packaged, &Options{SkipSecrets: true}); err != nil {
		t.Errorf("the packaged config, secrets skipped: %v", err)
	}
	// Everything else is still checked.
	text := strings.Replace(plaintextConfig("192.0.2.1", false), "signing_key_file: signing.key", "signing_key_file: /run/credentials/x/key\n  timeout: soon", 1)
	_, err = LoadFile(writeConfig(t, text), &Options{SkipSecrets: true})
	for _, want := range []string{`global.timeout: "soon" is not a duration`, "accounts.member.smtp.tls: none would send the password"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("secrets skipped: %v\nwant: %s", err, want)
		}
	}
	if err != nil && strings.Contains(err.Error(), "secret file") {
		t.Errorf("secrets skipped, yet read: %v", err)
	}
}
