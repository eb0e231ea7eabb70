//go:build capture

package checks

import (
	"fmt"
	"net/http"
	"net/url"
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

// TestCaptureListRewrites saves the copies Mailman 3 makes when it
// rewrites a post (anonymous_list, DMARC munge_from and wrap_message) and
// the copy of a post a moderator approved, as the reader receives them,
// into LISTPROBE_CAPTURE_EVIDENCE:
//
//	LISTPROBE_CAPTURE_EVIDENCE=$PWD/testdata/evidence go test -tags capture -run TestCaptureListRewrites -v ./checks/
//
// Mailman shunts DMARC-mitigated posts when it cannot load the public
// suffix list; those subtests then fail for want of a copy.
func TestCaptureListRewrites(t *testing.T) {
	dir := captureDir(t)
	env := testbed.Load(t)
	c := env.MailmanClient(t)
	signer, err := token.NewSigner([]byte(mailmanEvidenceKey))
	if err != nil {
		t.Fatal(err)
	}
	copyOf := func(t *testing.T, settings map[string]any, name string) {
		t.Helper()
		list := env.NewMailmanList(t)
		env.SetMailmanListConfig(t, list, settings)
		tok := signer.Encode(signer.NewToken(list, time.Now()))
		msg, err := compose.Message(compose.Probe{From: env["LISTPROBE_TESTBED_MEMBER"], List: list, Token: tok, Date: time.Now()}, nil)
		if err != nil {
			t.Fatal(err)
		}
		env.Submit(t, "MEMBER", list, msg)
		saveCapture(t, dir, name, env.WaitMessage(t, "READER", &imap.SearchCriteria{Text: []string{tok}}, time.Minute))
	}
	t.Run("anonymous list", func(t *testing.T) {
		copyOf(t, map[string]any{"anonymous_list": true}, "probe_copy-mailman3-real-anonymous-list.eml")
	})
	t.Run("dmarc munge_from", func(t *testing.T) {
		copyOf(t, map[string]any{"dmarc_mitigate_action": "munge_from", "dmarc_mitigate_unconditionally": true},
			"probe_copy-mailman3-real-dmarc-munge-from.eml")
	})
	t.Run("dmarc wrap_message", func(t *testing.T) {
		copyOf(t, map[string]any{"dmarc_mitigate_action": "wrap_message", "dmarc_mitigate_unconditionally": true},
			"probe_copy-mailman3-real-wrap-message.eml")
	})
	t.Run("approved by a moderator", func(t *testing.T) {
		list := env.NewMailmanList(t)
		env.SetMailmanListConfig(t, list, map[string]any{"default_member_action": "hold", "respond_to_post_requests": false})
		tok := signer.Encode(signer.NewToken(list, time.Now()))
		p := compose.Probe{From: env["LISTPROBE_TESTBED_MEMBER"], List: list, Token: tok, Date: time.Now()}
		msg, err := compose.Message(p, nil)
		if err != nil {
			t.Fatal(err)
		}
		env.Submit(t, "MEMBER", list, msg)
		h := testbed.WaitHeld(t, c, list, p.MessageID())
		if err := env.MailmanAdmin(t).Moderate(t.Context(), list, h.RequestID, "accept"); err != nil {
			t.Fatal(err)
		}
		saveCapture(t, dir, "probe_copy-mailman3-real-approved-by-moderator.eml",
			env.WaitMessage(t, "READER", &imap.SearchCriteria{Text: []string{tok}}, time.Minute))
	})
}

// TestCaptureDigests saves the MIME and the plain-text (RFC 1153) digests
// that the testbed's Mailman 3 sends a digest member, with a probe as one
// of the posts and a table of contents that says "rejected".
//
//	LISTPROBE_CAPTURE_EVIDENCE=$PWD/testdata/evidence go test -tags capture -run TestCaptureDigests -v ./checks/
func TestCaptureDigests(t *testing.T) {
	dir := captureDir(t)
	env := testbed.Load(t)
	c := env.MailmanClient(t)
	signer, err := token.NewSigner([]byte(mailmanEvidenceKey))
	if err != nil {
		t.Fatal(err)
	}
	for mode, name := range map[string]string{
		"mime_digests":      "unrelated-mailman3-real-mime-digest.eml",
		"plaintext_digests": "unrelated-mailman3-real-plain-digest.eml",
	} {
		t.Run(mode, func(t *testing.T) {
			ctx := t.Context()
			list := env.NewMailmanList(t)
			id, err := mailmanrest.ListID(list)
			if err != nil {
				t.Fatal(err)
			}
			var roster struct {
				Entries []struct {
					Email    string `json:"email"`
					MemberID any    `json:"member_id"`
				} `json:"entries"`
			}
			if err := c.Do(ctx, http.MethodGet, nil, nil, &roster, "lists", id, "roster", "member"); err != nil {
				t.Fatal(err)
			}
			for _, m := range roster.Entries {
				if strings.EqualFold(m.Email, env["LISTPROBE_TESTBED_READER"]) {
					if err := c.Do(ctx, http.MethodPatch, nil, url.Values{"delivery_mode": {mode}}, nil, "members", fmt.Sprint(m.MemberID)); err != nil {
						t.Fatal(err)
					}
				}
			}
			tok := signer.Encode(signer.NewToken(list, time.Now()))
			msg, err := compose.Message(compose.Probe{From: env["LISTPROBE_TESTBED_MEMBER"], List: list, Token: tok, Date: time.Now()}, nil)
			if err != nil {
				t.Fatal(err)
			}
			env.Submit(t, "MEMBER", list, msg)
			other := "From: " + env["LISTPROBE_TESTBED_MEMBER"] + "\r\nTo: " + list + "\r\nSubject: Why was my post rejected?\r\n" +
				"Message-ID: <why-" + fmt.Sprint(time.Now().UnixNano()) + "@example.test>\r\nDate: " + time.Now().Format(time.RFC1123Z) +
				"\r\n\r\nIt was rejected for the following reasons: none.\r\n"
			env.Submit(t, "MEMBER", list, []byte(other))
			// The member's own copy shows both posts went through (and so
			// into the digest), then the digest is sent now.
			env.WaitMessage(t, "MEMBER", &imap.SearchCriteria{Text: []string{tok}}, time.Minute)
			env.WaitMessage(t, "MEMBER", &imap.SearchCriteria{Header: []imap.SearchCriteriaHeaderField{{Key: "Subject", Value: "Why was my post rejected"}}, Text: []string{list}}, time.Minute)
			if err := c.Do(ctx, http.MethodPost, nil, url.Values{"send": {"True"}}, nil, "lists", id, "digest"); err != nil {
				t.Fatal(err)
			}
			saveCapture(t, dir, name, env.WaitMessage(t, "READER", &imap.SearchCriteria{
				Header: []imap.SearchCriteriaHeaderField{{Key: "Subject", Value: "Digest"}}, Text: []string{tok}}, time.Minute))
		})
	}
}

func captureDir(t *testing.T) string {
	t.Helper()
	dir := os.Getenv("LISTPROBE_CAPTURE_EVIDENCE")
	if dir == "" {
		t.Skip("set LISTPROBE_CAPTURE_EVIDENCE=DIR to capture real messages from the testbed")
	}
	return dir
}

func saveCapture(t *testing.T, dir, name string, raw []byte) {
	t.Helper()
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, scrubTestbedHost(raw), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("saved %s (%d bytes)", path, len(raw))
}
