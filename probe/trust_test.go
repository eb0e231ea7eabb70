package probe

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-msgauth/dkim"

	"github.com/listprobe/listprobe/checks"
	"github.com/listprobe/listprobe/checks/authn"
	"github.com/listprobe/listprobe/internal/dnstest"
	"github.com/listprobe/listprobe/probe/config"
)

// trustConfig is judgeConfig with the list's receiving server named
// (authserv-id mx.example.org, which also writes "by mx.example.org"), the
// list server's host, and a resolver on dns.
func trustConfig(t *testing.T, dns string) *config.Config {
	t.Helper()
	cfg := judgeConfig(t, true)
	cfg.ListServers = map[string]*config.ListServerConfig{"main": {Hosts: []string{"192.0.2.10"}, AuthservIDs: []string{"mx.example.org"}}}
	for _, l := range cfg.Lists {
		l.ListServer = "main"
	}
	cfg.Global.DNS.Server = dns
	return cfg
}

// TestJudgeTrustsOnlyWhatTheListServerProvablySent runs each message
// through the real authentication checks (a DNS server on loopback holds
// the list's DKIM key) and the judgement: only the list server's own
// notice decides and may be deleted; every forgery is a hint.
func TestJudgeTrustsOnlyWhatTheListServerProvablySent(t *testing.T) {
	dns := dnstest.Start(t)
	pub, key, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	dns.Set("list._domainkey.lists.example.org", "v=DKIM1; k=ed25519; p="+base64.StdEncoding.EncodeToString(pub))
	dns.SetServfail("down._domainkey.lists.example.org")
	cfg := trustConfig(t, dns.Addr)
	now := time.Now().Truncate(time.Second)
	tok := cfg.Signer().NewToken(judgeList, now.Add(-10*time.Second))
	enc := cfg.Signer().Encode(tok)
	pending := fakeProbes{known: map[string]KnownProbe{tok.ID: {ID: tok.ID, Pending: true, Signer: cfg.Signer(), Config: cfg, List: judgeList, PosterAccount: "member", SentAt: tok.SentAt}}}

	hold := fmt.Sprintf("From: users-bounces@lists.example.org\r\nTo: %s\r\nSubject: Your message to %s awaits moderator approval\r\nAuto-Submitted: auto-generated\r\nX-Mailman-Version: 3.3.8\r\nMessage-ID: <n1@lists.example.org>\r\n\r\nYour mail to '%s' with the subject\r\n\r\n    listprobe delivery test %s\r\n\r\nIs being held until the list moderator can review it for approval.\r\n\r\nThe message is being held because:\r\n\r\n    The message comes from a moderated member\r\n", testMember, judgeList, judgeList, enc)
	dsn := fmt.Sprintf("Return-Path: <>\r\nFrom: MAILER-DAEMON@lists.example.org\r\nTo: %s\r\nSubject: Undelivered Mail Returned to Sender\r\nAuto-Submitted: auto-replied\r\nMessage-ID: <dsn1@lists.example.org>\r\nContent-Type: multipart/report; report-type=delivery-status; boundary=\"b\"\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\nYour message could not be delivered.\r\n--b\r\nContent-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; lists.example.org\r\n\r\nFinal-Recipient: rfc822; %s\r\nAction: failed\r\nStatus: 5.7.1\r\nDiagnostic-Code: smtp; 550 5.7.1 refused\r\n--b\r\nContent-Type: text/rfc822-headers\r\n\r\nFrom: %s\r\nTo: %s\r\nSubject: listprobe delivery test\r\nMessage-ID: <%s@example.org>\r\nX-Listprobe-Token: %s\r\n--b--\r\n", testMember, judgeList, testMember, judgeList, tok.ID, enc)
	// Sympa 6.2.70's sender notice names no probe: it is matched by time.
	sympa := "From: \"SYMPA\" <sympa@sympa.example.test>\r\nTo: " + testMember + "\r\nSubject: Message distribution\r\nAuto-Submitted: auto-replied\r\nX-Mailer: Sympa 6.2.70\r\nMessage-Id: <s1@sympa.example.test>\r\nContent-Type: text/plain; charset=\"US-ASCII\"\r\n\r\nYour message to the list 't-ae793767' has been forwarded to the moderator(s)\r\n"
	sign := func(raw, selector string) string {
		var b bytes.Buffer
		if err := dkim.Sign(&b, strings.NewReader(raw), &dkim.SignOptions{Domain: "lists.example.org", Selector: selector, Signer: key,
			HeaderKeys: []string{"From", "To", "Subject", "Message-ID"}}); err != nil {
			t.Fatal(err)
		}
		return b.String()
	}
	stranger := "Received: from mx.stranger.test (mx.stranger.test [127.0.0.2]) by mx.example.org with ESMTP; " + now.Format(time.RFC1123Z) + "\r\n"
	fromList := "Received: from lists.example.org (lists.example.org [192.0.2.10]) by mx.example.org with ESMTP; " + now.Format(time.RFC1123Z) + "\r\n"
	for _, tc := range []struct {
		name, raw, list string
		probes          int
		trusted         bool
		why             string // in TrustWhy
	}{
		{"a hold notice forged by a stranger with the list's -bounces From", stranger + hold, judgeList, 1, false, "not authenticated"},
		{"a DSN forged with a null Return-Path", stranger + dsn, judgeList, 1, false, "not authenticated"},
		{"Sympa's sentence by a stranger near a probe's time", stranger + sympa, judgeSympa, 1, false, "not authenticated"},
		{"the list's hold notice, signed by the list's domain", stranger + sign(hold, "list"), judgeList, 1, true, "DKIM signature of lists.example.org verifies"},
		{"the list's hold notice, signed then altered", stranger + strings.Replace(sign(hold, "list"), "moderated member", "banned member", 1), judgeList, 1, false, "body hash"},
		{"Authentication-Results from an authserv-id nobody named", "Authentication-Results: mx.stranger.test; dkim=pass header.d=lists.example.org; spf=pass smtp.mailfrom=lists.example.org\r\n" + stranger + hold, judgeList, 1, false, "not authenticated"},
		{"a trusted-looking Authentication-Results below a foreign Received", stranger + "Authentication-Results: mx.example.org; dkim=pass header.d=lists.example.org; spf=pass smtp.mailfrom=lists.example.org\r\n" + hold, judgeList, 1, false, "not authenticated"},
		{"the receiving server's Received hop from the list server", fromList + hold, judgeList, 1, true, "from the list server"},
		{"a signature whose key DNS could not fetch", stranger + sign(hold, "down"), judgeList, 1, false, "could not be authenticated: DNS lookup failed"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := incoming(t, "member", tc.raw, now)
			i := strings.Index(tc.raw, "\r\n\r\n")
			raw := authn.Message{Header: []byte(tc.raw[:i+2]), Body: []byte(tc.raw[i+4:]), BodyComplete: true}
			r, err := authn.NewResolver(cfg.Global.ResolverOptions())
			if err != nil {
				t.Fatal(err)
			}
			probes := Probes(pending)
			if tc.list == judgeSympa {
				probes = fakeProbes{known: map[string]KnownProbe{"s": {ID: "s", Pending: true, Signer: cfg.Signer(), Config: cfg, List: judgeSympa, PosterAccount: "member", SentAt: now.Add(-time.Second)}}}
			}
			in.Auth = Authenticate(context.Background(), in, raw, cfg, r)
			v := Judge(in, cfg, probes)
			if len(v.Probes) != tc.probes || !needsAuthn(v.Evidence.Kind) {
				t.Fatalf("kind %s, %d probes (%s); want a notice about %d", v.Evidence.Kind, len(v.Probes), v.Why, tc.probes)
			}
			if (v.Trust == TrustAuthenticated) != tc.trusted || !strings.Contains(v.TrustWhy, tc.why) {
				t.Errorf("trust %s (%s), want authenticated %v saying %q", v.Trust, v.TrustWhy, tc.trusted, tc.why)
			}
			if v.Deletable && !tc.trusted {
				t.Error("an unauthenticated message is deletable")
			}
			if tc.trusted && v.Evidence.Kind == checks.KindHoldNotice && !v.Deletable {
				t.Errorf("the list's own notice is not deletable (%s)", v.Why)
			}
		})
	}
}
