package probe

import (
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/listprobe/listprobe/checks"
)

func TestLoadGoodConfig(t *testing.T) {
	cfg, err := LoadFile("testdata/config/good.yml")
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Signer() == nil {
		t.Fatal("no signer from signing_key_file")
	}
	m := cfg.Accounts["member"]
	if m.Name() != "member" || m.SMTP.Password() != "member-secret" || m.SMTP.Auth != "plain" || m.SMTP.TLS != checks.TLSStartTLS {
		t.Errorf("member smtp = %+v, password %q", m.SMTP, m.SMTP.Password())
	}
	r := cfg.Accounts["reader"]
	if r.IMAP.TLS != checks.TLSImplicit || r.IMAP.Mailbox != "INBOX" || r.IMAP.TLSConfig() == nil || r.IMAP.TLSConfig().InsecureSkipVerify {
		t.Errorf("reader imap defaults wrong: %+v", r.IMAP)
	}
	if got := r.IMAP.TLSConfig().ServerName; got != "imap.example.org" {
		t.Errorf("TLS ServerName = %q, want imap.example.org (certificates are verified by default)", got)
	}
	announce, users := cfg.Lists[0], cfg.Lists[1]
	if announce.Expect != Held || announce.EffectiveTimeout(cfg.Global) != 10*time.Minute || announce.ScheduleSpec(cfg.Global) != "0 * * * *" {
		t.Errorf("announce = %+v", announce)
	}
	if users.Address != "users@lists.example.org" {
		t.Errorf("list address not lower-cased: %q", users.Address)
	}
	if users.Expect != Delivered || users.EffectiveTimeout(cfg.Global) != 4*time.Minute {
		t.Errorf("users defaults = %+v", users)
	}
	if got := time.Duration(cfg.Global.PollInterval); got != DefaultPollInterval {
		t.Errorf("poll_interval default = %s", got)
	}
}

func TestConfigNeverPrintsSecrets(t *testing.T) {
	cfg, err := LoadFile("testdata/config/good.yml")
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
// the field.
func TestConfigErrors(t *testing.T) {
	t.Setenv("LISTPROBE_TEST_UNSET_KEY", "")
	for _, tc := range []struct{ file, want string }{
		{"bad-unknown-key.yml", `bad-unknown-key.yml:14: unknown field "moderatr"`},
		{"bad-unknown-account.yml", `bad-unknown-account.yml:12: lists[0].poster: unknown account "membr"`},
		{"bad-unknown-mailman.yml", `bad-unknown-mailman.yml:14: lists[0].mailman: unknown mailman server "main"`},
		{"bad-cron.yml", `bad-cron.yml:3: global.schedule: "*/5 * * *" is not a cron schedule: expected exactly 5 fields, found 4: [*/5 * * *]`},
		{"bad-timeout-interval.yml", `bad-timeout-interval.yml:4: global.timeout: timeout 5m0s for users@lists.example.org is not shorter than its schedule's interval 5m0s ("@every 5m")`},
		{"bad-duration.yml", `bad-duration.yml:3: "5 minutes" is not a duration like 90s or 5m`},
		{"bad-missing-secret.yml", `bad-missing-secret.yml:6: accounts.member.smtp.password_file: cannot read secret: open testdata/config/missing.password: no such file or directory`},
		{"bad-empty-secret.yml", `bad-empty-secret.yml:9: accounts.reader.imap.password_file: secret file empty.secret is empty`},
		{"bad-unset-env.yml", `bad-unset-env.yml:2: global.signing_key_env: environment variable LISTPROBE_TEST_UNSET_KEY is not set or empty`},
		{"bad-tls-mode.yml", `bad-tls-mode.yml:6: accounts.member.smtp.tls: "ssl" is not tls, starttls or none`},
		{"bad-auth.yml", `bad-auth.yml:6: accounts.member.smtp.auth: "cram-md5" is not one of plain, login, oauthbearer, anonymous, external, none`},
		{"bad-expect.yml", `bad-expect.yml:13: lists[0].expect: "bounced" is not delivered or held`},
		{"bad-poster-no-smtp.yml", `bad-poster-no-smtp.yml:12: lists[0].poster: account "reader" has no smtp server to post with`},
		{"bad-list-address.yml", `bad-list-address.yml:11: lists[0].address: "users at lists" is not a bare mail address like list@example.org`},
		{"bad-host-port.yml", `bad-host-port.yml:9: accounts.reader.imap.address: "imap.example.org" is not host:port`},
		{"bad-duplicate-list.yml", `bad-duplicate-list.yml:14: lists[1].address: users@lists.example.org is already configured as lists[0]`},
		{"bad-no-signing-key.yml", `bad-no-signing-key.yml:1: global.signing_key_file: signing_key_file or signing_key_env is required`},
		{"bad-short-key.yml", `bad-short-key.yml:2: global.signing_key_file: signing key is 14 bytes long, want at least 16`},
		{"bad-mailman-url.yml", `bad-mailman-url.yml:11: mailman.main.url: "lists.example.org/3.1" is not an http or https URL`},
		{"bad-type.yml", "bad-type.yml:8: cannot unmarshal !!str `yes please` into bool"},
		{"bad-syntax.yml", `bad-syntax.yml:1: did not find expected node content`},
	} {
		t.Run(tc.file, func(t *testing.T) {
			_, err := LoadFile(filepath.Join("testdata/config", tc.file))
			if err == nil {
				t.Fatal("loaded without error")
			}
			want := "testdata/config/" + tc.want
			if err.Error() != want {
				t.Errorf("error:\n got: %s\nwant: %s", err, want)
			}
		})
	}
}
