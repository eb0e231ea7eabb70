package testbed

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"os"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
)

// TLSConfig verifies the testbed's servers against its own CA
// (LISTPROBE_TESTBED_CA_FILE) under the name mail.example.test.
func (e Env) TLSConfig(t testing.TB) *tls.Config {
	t.Helper()
	pem, err := os.ReadFile(e.Get(t, "CA_FILE"))
	if err != nil {
		t.Fatalf("testbed CA: %v", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		t.Fatalf("testbed CA %s holds no certificate", e.Get(t, "CA_FILE"))
	}
	return &tls.Config{RootCAs: pool, ServerName: e.Get(t, "TLS_SERVER_NAME")}
}

// Submit posts msg from account ("MEMBER", "OUTSIDER"...) to rcpt through
// the testbed's submission port, over STARTTLS verified against the
// testbed's CA, with the account's password.
func (e Env) Submit(t testing.TB, account, rcpt string, msg []byte) {
	t.Helper()
	from := e.Get(t, account)
	c, err := smtp.DialStartTLS(e.Get(t, "SMTP"), e.TLSConfig(t))
	if err != nil {
		t.Fatalf("testbed submission: %v", err)
	}
	defer c.Close()
	if err := c.Auth(sasl.NewPlainClient("", from, e.Secret(t, account+"_PASSWORD_FILE"))); err != nil {
		t.Fatalf("testbed submission AUTH as %s: %v", from, err)
	}
	if err := c.SendMail(from, []string{rcpt}, bytes.NewReader(msg)); err != nil {
		t.Fatalf("testbed submission to %s: %v", rcpt, err)
	}
	if err := c.Quit(); err != nil {
		t.Fatalf("testbed submission QUIT: %v", err)
	}
}

// WaitMessage waits up to timeout for exactly one message matching criteria
// in account's INBOX and returns it whole, as IMAP serves it. Nothing is
// marked or moved.
func (e Env) WaitMessage(t testing.TB, account string, criteria *imap.SearchCriteria, timeout time.Duration) []byte {
	t.Helper()
	c := e.Mailbox(t, account)
	deadline := time.Now().Add(timeout)
	var uids []imap.UID
	for {
		uids = Search(t, c, criteria)
		if len(uids) > 0 || time.Now().After(deadline) {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if len(uids) != 1 {
		t.Fatalf("%d messages in %s's INBOX match %+v within %s, want 1", len(uids), account, criteria, timeout)
	}
	section := &imap.FetchItemBodySection{Peek: true}
	msgs, err := c.Fetch(imap.UIDSetNum(uids[0]), &imap.FetchOptions{BodySection: []*imap.FetchItemBodySection{section}}).Collect()
	if err != nil || len(msgs) != 1 {
		t.Fatalf("fetching UID %d: %v (%d messages)", uids[0], err, len(msgs))
	}
	return msgs[0].FindBodySection(section)
}
