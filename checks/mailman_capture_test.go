//go:build capture

// This file is built only with -tags capture: it writes fixtures rather than
// testing anything, so a normal or CI run neither compiles nor skips it.

package checks

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"

	"github.com/listprobe/listprobe/checks/compose"
	"github.com/listprobe/listprobe/checks/mailmanrest"
	"github.com/listprobe/listprobe/checks/token"
	"github.com/listprobe/listprobe/internal/testbed"
)

// TestMailmanCaptureEvidence drives the real testbed into each state that
// produces a notice or a copy and saves the message listprobe receives,
// as it arrives over IMAP, into the directory named by
// LISTPROBE_CAPTURE_EVIDENCE (normally checks/testdata/evidence). It runs
// only when that variable is set: the files are committed, and rerunning it
// makes new ones with new tokens.
//
// The probe posts are real probes (Compose) whose tokens are signed with
// mailmanEvidenceKey, so a parser test can verify the tokens it finds.
//
//	LISTPROBE_CAPTURE_EVIDENCE=$PWD/testdata/evidence go test -tags capture -run TestMailmanCaptureEvidence -v ./checks/
func TestMailmanCaptureEvidence(t *testing.T) {
	dir := os.Getenv("LISTPROBE_CAPTURE_EVIDENCE")
	if dir == "" {
		t.Skip("set LISTPROBE_CAPTURE_EVIDENCE=DIR to capture real notices from the testbed")
	}
	env := testbed.Load(t)
	signer, err := token.NewSigner([]byte(mailmanEvidenceKey))
	if err != nil {
		t.Fatal(err)
	}
	mc := mailmanCapture{dir: dir, env: env, c: env.MailmanClient(t), signer: signer}
	captureMailmanCopyAndHolds(t, mc)
	captureMailmanRejections(t, mc)
	captureMailmanLimitAndDSN(t, mc)
}

// mailmanCapture is what the capture's scenarios share: where the files
// go, the testbed, its Mailman client and the evidence signer.
type mailmanCapture struct {
	dir    string
	env    testbed.Env
	c      *mailmanrest.Client
	signer *token.Signer
}

// save writes a captured message, the machine's host name scrubbed.
func (mc mailmanCapture) save(t *testing.T, name string, raw []byte) {
	t.Helper()
	raw = scrubTestbedHost(raw)
	path := filepath.Join(mc.dir, name)
	if err := os.WriteFile(path, raw, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("saved %s (%d bytes)", path, len(raw))
}

// probe returns a signed probe of list, and its token.
func (mc mailmanCapture) probe(t *testing.T, list string) (token string, msg []byte) {
	t.Helper()
	tok := mc.signer.Encode(mc.signer.NewToken(list, time.Now()))
	msg, err := compose.Message(compose.Probe{From: mc.env["LISTPROBE_TESTBED_MEMBER"], List: list, Token: tok, Date: time.Now()}, nil)
	if err != nil {
		t.Fatal(err)
	}
	return tok, msg
}

// subjectAndText searches for a subject and a text anywhere in a message.
func subjectAndText(subject, text string) *imap.SearchCriteria {
	return &imap.SearchCriteria{
		Header: []imap.SearchCriteriaHeaderField{{Key: "Subject", Value: subject}},
		Text:   []string{text},
	}
}

// captureMailmanCopyAndHolds captures a list copy and the hold notices.
func captureMailmanCopyAndHolds(t *testing.T, mc mailmanCapture) {
	env := mc.env
	t.Run("list copy to the reader", func(t *testing.T) {
		list := env.NewMailmanList(t)
		tok, msg := mc.probe(t, list)
		start := time.Now()
		env.Submit(t, "MEMBER", list, msg)
		accepted := time.Now()
		raw := env.WaitMessage(t, "READER", &imap.SearchCriteria{Text: []string{tok}}, time.Minute)
		t.Logf("submission took %s; copy visible over IMAP %s after the post was accepted", accepted.Sub(start), time.Since(accepted))
		mc.save(t, "probe_copy-mailman3-real-list-copy.eml", raw)
	})

	t.Run("hold notice and moderator notice for a moderated member", func(t *testing.T) {
		list := env.NewMailmanList(t)
		env.SetMailmanListConfig(t, list, map[string]any{"default_member_action": "hold", "admin_immed_notify": true})
		tok, msg := mc.probe(t, list)
		env.Submit(t, "MEMBER", list, msg)
		mc.save(t, "hold_notice-mailman3-real-moderated-member.eml",
			env.WaitMessage(t, "MEMBER", subjectAndText("awaits moderator approval", tok), time.Minute))
		mc.save(t, "moderator_notice-mailman3-real-moderated-member.eml",
			env.WaitMessage(t, "MODERATOR", subjectAndText("requires approval", tok), time.Minute))
	})

	t.Run("hold notice for emergency moderation", func(t *testing.T) {
		list := env.NewMailmanList(t)
		env.SetMailmanListConfig(t, list, map[string]any{"emergency": true, "admin_immed_notify": true})
		tok, msg := mc.probe(t, list)
		env.Submit(t, "MEMBER", list, msg)
		mc.save(t, "hold_notice-mailman3-real-emergency.eml",
			env.WaitMessage(t, "MEMBER", subjectAndText("awaits moderator approval", tok), time.Minute))
		mc.save(t, "moderator_notice-mailman3-real-emergency.eml",
			env.WaitMessage(t, "MODERATOR", subjectAndText("requires approval", tok), time.Minute))
	})

	t.Run("hold notice for a non-member", func(t *testing.T) {
		list := env.NewMailmanList(t)
		// The probe account is not subscribed to this list.
		admin := env.MailmanAdmin(t)
		if err := admin.DeleteList(t.Context(), list); err != nil {
			t.Fatal(err)
		}
		if err := admin.CreateList(t.Context(), list); err != nil {
			t.Fatal(err)
		}
		if err := admin.Subscribe(t.Context(), list, env["LISTPROBE_TESTBED_MODERATOR"], "owner"); err != nil {
			t.Fatal(err)
		}
		if err := admin.SetListConfig(t.Context(), list, map[string]any{"admin_immed_notify": false}); err != nil {
			t.Fatal(err)
		}
		tok, msg := mc.probe(t, list)
		env.Submit(t, "MEMBER", list, msg)
		mc.save(t, "hold_notice-mailman3-real-nonmember.eml",
			env.WaitMessage(t, "MEMBER", subjectAndText("awaits moderator approval", tok), time.Minute))
	})
}

// captureMailmanRejections captures the rejection notices.
func captureMailmanRejections(t *testing.T, mc mailmanCapture) {
	env := mc.env
	t.Run("rejection by default_member_action reject", func(t *testing.T) {
		list := env.NewMailmanList(t)
		env.SetMailmanListConfig(t, list, map[string]any{"default_member_action": "reject"})
		tok, msg := mc.probe(t, list)
		env.Submit(t, "MEMBER", list, msg)
		mc.save(t, "rejection-mailman3-real-member-reject.eml",
			env.WaitMessage(t, "MEMBER", &imap.SearchCriteria{Text: []string{tok},
				Not: []imap.SearchCriteria{{Header: []imap.SearchCriteriaHeaderField{{Key: "Subject", Value: "awaits moderator approval"}}}}}, time.Minute))
	})

	t.Run("rejection by a moderator through REST", func(t *testing.T) {
		list := env.NewMailmanList(t)
		env.SetMailmanListConfig(t, list, map[string]any{"default_member_action": "hold", "respond_to_post_requests": false})
		tok, msg := mc.probe(t, list)
		env.Submit(t, "MEMBER", list, msg)
		p := compose.Probe{Token: tok, From: env["LISTPROBE_TESTBED_MEMBER"]}
		h := testbed.WaitHeld(t, mc.c, list, p.MessageID())
		if err := env.MailmanAdmin(t).ModerateWithComment(t.Context(), list, h.RequestID, "reject", "Probe posts are not welcome here"); err != nil {
			t.Fatal(err)
		}
		mc.save(t, "rejection-mailman3-real-moderator-reject.eml",
			env.WaitMessage(t, "MEMBER", &imap.SearchCriteria{Text: []string{tok}}, time.Minute))
	})
}

// captureMailmanLimitAndDSN captures the notice limit and Postfix's DSN.
func captureMailmanLimitAndDSN(t *testing.T, mc mailmanCapture) {
	env := mc.env
	t.Run("last autoresponse notification after 10 hold notices", func(t *testing.T) {
		list := env.NewMailmanList(t)
		env.SetMailmanListConfig(t, list, map[string]any{"default_member_action": "hold"})
		var toks []string
		for i := 0; i < 12; i++ {
			tok, msg := mc.probe(t, list)
			toks = append(toks, tok)
			env.Submit(t, "MEMBER", list, msg)
		}
		raw := env.WaitMessage(t, "MEMBER", subjectAndText("Last autoresponse notification for today", list), time.Minute)
		mc.save(t, "notice_limit-mailman3-real-last-autoresponse.eml", raw)
		// Every post is held all the same: REST still sees the 11th and 12th.
		for _, tok := range toks {
			p := compose.Probe{Token: tok, From: env["LISTPROBE_TESTBED_MEMBER"]}
			testbed.WaitHeld(t, mc.c, list, p.MessageID())
		}
		// Ten hold notices, then the last-notification one, then none.
		n := countInTestbedMailbox(t, env, "MEMBER", subjectAndText("awaits moderator approval", list))
		t.Logf("%d hold notices for 12 held posts", n)
		if n != 10 {
			t.Errorf("%d hold notices for 12 held posts, want 10 (max_autoresponses_per_day)", n)
		}
	})

	t.Run("postfix DSN for an unknown list address", func(t *testing.T) {
		rcpt := "no-such-list@" + env["LISTPROBE_TESTBED_LIST_DOMAIN"]
		tok, msg := mc.probe(t, rcpt)
		env.Submit(t, "MEMBER", rcpt, msg)
		mc.save(t, "bounce-mailman3-real-postfix-dsn-unknown-list.eml",
			env.WaitMessage(t, "MEMBER", &imap.SearchCriteria{
				Header: []imap.SearchCriteriaHeaderField{{Key: "From", Value: "MAILER-DAEMON"}},
				Text:   []string{tok},
			}, time.Minute))
	})
}

// mailmanEvidenceKey signs the probe tokens in the captured evidence files
// (checks/testdata/evidence/*-mailman3-real-*.eml).
const mailmanEvidenceKey = "listprobe-evidence-test-key-0123456789"

// scrubTestbedHost replaces the machine's own host name, should Mailman
// have put it in a Message-ID, with a .test name.
func scrubTestbedHost(raw []byte) []byte {
	host, err := os.Hostname()
	if err != nil || host == "" {
		return raw
	}
	for _, pat := range []string{"@" + host + ">", "@" + host + "."} {
		raw = bytes.ReplaceAll(raw, []byte(pat), []byte(strings.Replace(pat, host, "mail.example.test", 1)))
	}
	return raw
}

// dialTestbedMailbox logs account in to the testbed's IMAP server and
// opens its INBOX read-only.

// countInTestbedMailbox waits a moment for stragglers, then counts the
// messages in account's INBOX that match criteria.
func countInTestbedMailbox(t testing.TB, env testbed.Env, account string, criteria *imap.SearchCriteria) int {
	t.Helper()
	c := testbed.Env(env).Mailbox(t, account)
	time.Sleep(2 * time.Second)
	return len(testbed.Search(t, c, criteria))
}
