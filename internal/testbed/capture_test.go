//go:build capture

// Built only with -tags capture: it writes fixtures rather than testing
// anything, so a normal or CI run neither compiles nor skips it.

package testbed

import (
	"bytes"
	"context"
	"io"
	"mime/quotedprintable"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"

	"github.com/listprobe/listprobe/checks/compose"
	"github.com/listprobe/listprobe/checks/token"
)

// evidenceKey is the key the Mailman fixtures' tokens are signed with
// (checks/mailman_capture_test.go), so that parser tests verify the tokens
// in these fixtures the same way.
const evidenceKey = "listprobe-evidence-test-key-0123456789"

// TestCaptureSympaMlmmjEvidence drives the testbed's Sympa and mlmmj into
// each state that produces a notice or a copy and saves the message as the
// recipient's IMAP server serves it, into LISTPROBE_CAPTURE_EVIDENCE
// (normally checks/testdata/evidence), as sympa-*.eml and mlmmj-*.eml.
// Moderation keys and cookies (they would let anyone approve the post) are
// replaced by fixed strings; the machine's host name by mail.example.test.
//
//	sudo LISTPROBE_CAPTURE_EVIDENCE=$PWD/checks/testdata/evidence go test -tags capture -run TestCaptureSympaMlmmjEvidence -v ./internal/testbed/
func TestCaptureSympaMlmmjEvidence(t *testing.T) {
	dir := os.Getenv("LISTPROBE_CAPTURE_EVIDENCE")
	if dir == "" {
		t.Skip("set LISTPROBE_CAPTURE_EVIDENCE=DIR to capture real notices from the testbed")
	}
	e := Load(t)
	signer, err := token.NewSigner([]byte(evidenceKey))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	cp := capture{dir: dir, e: e, signer: signer, ctx: ctx}
	captureSympa(t, cp)
	captureMlmmj(t, cp)
}

// capture is what the capture's scenarios share: where the files go, the
// testbed, the evidence signer and the whole capture's context.
type capture struct {
	dir    string
	e      Env
	signer *token.Signer
	ctx    context.Context
}

// captureWait is how long a captured message may take to arrive.
const captureWait = 90 * time.Second

// save writes a captured message, scrubbed.
func (cp capture) save(t *testing.T, name string, raw []byte) {
	t.Helper()
	raw = scrub(raw)
	path := filepath.Join(cp.dir, name)
	if err := os.WriteFile(path, raw, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("saved %s (%d bytes)", path, len(raw))
}

// probe composes a real probe from account to list; edit may change it
// before it is sent (the To: header, its size).
func (cp capture) probe(t *testing.T, account, list string, edit func([]byte) []byte) (string, []byte) {
	t.Helper()
	tok := cp.signer.Encode(cp.signer.NewToken(list, time.Now()))
	msg, err := compose.Message(compose.Probe{From: cp.e.Get(t, account), List: list, Token: tok, Date: time.Now()}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if edit != nil {
		msg = edit(msg)
	}
	return tok, msg
}

func (cp capture) check(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func text(s ...string) *imap.SearchCriteria { return &imap.SearchCriteria{Text: s} }

// fromList searches for mail from list's own addresses holding s.
func fromList(list string, s ...string) *imap.SearchCriteria {
	local := list[:strings.IndexByte(list, '@')]
	return &imap.SearchCriteria{
		Header: []imap.SearchCriteriaHeaderField{{Key: "From", Value: local}},
		Text:   s,
	}
}

// captureSympa captures Sympa's copies, notices and rejections.
func captureSympa(t *testing.T, cp capture) {
	e, wait := cp.e, captureWait
	t.Run("sympa list copy", func(t *testing.T) {
		list := e.NewSympaList(t)
		tok, msg := cp.probe(t, "MEMBER", list, nil)
		e.Submit(t, "MEMBER", list, msg)
		cp.save(t, "sympa-probe_copy-list-copy.eml", e.WaitMessage(t, "READER", text(tok), wait))
	})

	t.Run("sympa list copy with DMARC protection", func(t *testing.T) {
		list := e.NewSympaList(t)
		cp.check(t, e.SympaSetDMARCProtection(cp.ctx, list, true))
		tok, msg := cp.probe(t, "MEMBER", list, nil)
		e.Submit(t, "MEMBER", list, msg)
		cp.save(t, "sympa-probe_copy-dmarc-protection.eml", e.WaitMessage(t, "READER", text(tok), wait))
	})

	for _, lang := range []string{"en", "fr"} {
		t.Run("sympa moderated "+lang, func(t *testing.T) {
			list := e.NewSympaList(t)
			cp.check(t, e.SympaSetModerated(cp.ctx, list, true))
			cp.check(t, e.SympaSet(cp.ctx, list, "lang", lang))
			tok, msg := cp.probe(t, "MEMBER", list, nil)
			e.Submit(t, "MEMBER", list, msg)
			request := e.WaitMessage(t, "MODERATOR", text(tok), wait)
			cp.save(t, "sympa-moderator_request-editorkey-"+lang+".eml", request)
			local := list[:strings.IndexByte(list, '@')]
			// The notice quotes neither the Subject nor the Message-ID: only
			// the list's name ties it to the post.
			cp.save(t, "sympa-hold_notice-editorkey-"+lang+".eml", e.WaitMessage(t, "MEMBER", &imap.SearchCriteria{
				Header: []imap.SearchCriteriaHeaderField{{Key: "From", Value: "sympa@"}},
				Text:   []string{local},
			}, wait))

			// The moderator rejects it by mail, as the request says.
			e.SympaModerate(t, request, "REJECT")
			cp.save(t, "sympa-rejection-moderator-"+lang+".eml", e.WaitMessage(t, "MEMBER", &imap.SearchCriteria{
				Header: []imap.SearchCriteriaHeaderField{{Key: "From", Value: local + "-request"}},
			}, wait))
		})

		t.Run("sympa subscribers only "+lang, func(t *testing.T) {
			list := e.NewSympaList(t)
			cp.check(t, e.SympaSetSubscribersOnly(cp.ctx, list, true))
			cp.check(t, e.SympaSet(cp.ctx, list, "lang", lang))
			tok, msg := cp.probe(t, "OUTSIDER", list, nil)
			e.Submit(t, "OUTSIDER", list, msg)
			cp.save(t, "sympa-rejection-subscribers-only-"+lang+".eml", e.WaitMessage(t, "OUTSIDER", text(tok), wait))
		})
	}

	t.Run("sympa closed", func(t *testing.T) {
		list := e.NewSympaList(t)
		cp.check(t, e.SympaSet(cp.ctx, list, "send", "closed"))
		tok, msg := cp.probe(t, "MEMBER", list, nil)
		e.Submit(t, "MEMBER", list, msg)
		cp.save(t, "sympa-rejection-closed-en.eml", e.WaitMessage(t, "MEMBER", &imap.SearchCriteria{
			Header: []imap.SearchCriteriaHeaderField{{Key: "From", Value: "sympa"}},
			Text:   []string{tok},
		}, wait))
	})
}

// captureMlmmj captures mlmmj's copies, notices and rejections.
func captureMlmmj(t *testing.T, cp capture) {
	e, wait := cp.e, captureWait
	t.Run("mlmmj list copy", func(t *testing.T) {
		list := e.NewMlmmjList(t)
		tok, msg := cp.probe(t, "MEMBER", list, nil)
		e.Submit(t, "MEMBER", list, msg)
		cp.save(t, "mlmmj-probe_copy-list-copy.eml", e.WaitMessage(t, "READER", text(tok), wait))
	})

	t.Run("mlmmj moderated", func(t *testing.T) {
		list := e.NewMlmmjList(t)
		cp.check(t, e.MlmmjSetModerated(cp.ctx, list, true))
		tok, msg := cp.probe(t, "MEMBER", list, nil)
		e.Submit(t, "MEMBER", list, msg)
		cp.save(t, "mlmmj-moderator_request-moderated.eml", e.WaitMessage(t, "MODERATOR", text(tok), wait))
		cp.save(t, "mlmmj-hold_notice-moderated.eml", e.WaitMessage(t, "MEMBER", fromList(list), wait))
	})

	t.Run("mlmmj non-subscriber held", func(t *testing.T) {
		list := e.NewMlmmjList(t)
		cp.check(t, e.MlmmjSetSubscribersOnly(cp.ctx, list, true))
		cp.check(t, e.MlmmjControl(cp.ctx, list, "modnonsubposts", ""))
		tok, msg := cp.probe(t, "OUTSIDER", list, nil)
		e.Submit(t, "OUTSIDER", list, msg)
		cp.save(t, "mlmmj-moderator_request-nonsubscriber.eml", e.WaitMessage(t, "MODERATOR", text(tok), wait))
		cp.save(t, "mlmmj-hold_notice-nonsubscriber.eml", e.WaitMessage(t, "OUTSIDER", fromList(list), wait))
	})

	t.Run("mlmmj subscribers only", func(t *testing.T) {
		list := e.NewMlmmjList(t)
		cp.check(t, e.MlmmjSetSubscribersOnly(cp.ctx, list, true))
		_, msg := cp.probe(t, "OUTSIDER", list, nil)
		e.Submit(t, "OUTSIDER", list, msg)
		cp.save(t, "mlmmj-rejection-subscribers-only.eml", e.WaitMessage(t, "OUTSIDER", fromList(list), wait))
	})

	t.Run("mlmmj list not in To or Cc", func(t *testing.T) {
		list := e.NewMlmmjList(t)
		_, msg := cp.probe(t, "MEMBER", list, func(m []byte) []byte {
			return bytes.Replace(m, []byte("To: "+list), []byte("To: undisclosed-recipients:;"), 1)
		})
		e.Submit(t, "MEMBER", list, msg)
		cp.save(t, "mlmmj-rejection-tocc.eml", e.WaitMessage(t, "MEMBER", fromList(list), wait))
	})

	t.Run("mlmmj too large", func(t *testing.T) {
		list := e.NewMlmmjList(t)
		cp.check(t, e.MlmmjControl(cp.ctx, list, "maxmailsize", "600"))
		_, msg := cp.probe(t, "MEMBER", list, nil)
		e.Submit(t, "MEMBER", list, msg)
		cp.save(t, "mlmmj-rejection-maxmailsize.eml", e.WaitMessage(t, "MEMBER", fromList(list), wait))
	})

	t.Run("mlmmj access rule", func(t *testing.T) {
		list := e.NewMlmmjList(t)
		cp.check(t, e.MlmmjControl(cp.ctx, list, "access", "deny ^Subject:.*listprobe"))
		_, msg := cp.probe(t, "MEMBER", list, nil)
		e.Submit(t, "MEMBER", list, msg)
		cp.save(t, "mlmmj-rejection-access.eml", e.WaitMessage(t, "MEMBER", fromList(list), wait))
	})
}

var (
	// Sympa's moderation key: "DISTRIBUTE list KEY", "REJECT list KEY", and
	// the same in mailto: links (%20 for the spaces).
	sympaKey = regexp.MustCompile(`(?:DISTRIBUTE|REJECT)(?: |%20)[a-z0-9_.-]+(?: |%20)([0-9a-f]{32})`)
	// mlmmj's moderation cookie in list+moderate-COOKIE@, +release-, +reject-.
	mlmmjCookie = regexp.MustCompile(`\+(?:moderate|release|reject|permit|obstruct)-([0-9a-f]+)@`)
)

// scrub replaces the moderation keys and cookies in raw by fixed strings of
// the same length, wherever they occur: also where quoted-printable split
// them with a soft line break, which stays where it was.
func scrub(raw []byte) []byte {
	decoded, _ := io.ReadAll(quotedprintable.NewReader(bytes.NewReader(raw)))
	secrets := map[string]bool{}
	for _, re := range []*regexp.Regexp{sympaKey, mlmmjCookie} {
		for _, m := range re.FindAllSubmatch(decoded, -1) {
			secrets[string(m[1])] = true
		}
		for _, m := range re.FindAllSubmatch(raw, -1) {
			secrets[string(m[1])] = true
		}
	}
	const fixed = "0123456789abcdef"
	for secret := range secrets {
		parts := make([]string, len(secret))
		for i := range secret {
			parts[i] = regexp.QuoteMeta(secret[i : i+1])
		}
		split := regexp.MustCompile(strings.Join(parts, `(?:=\r?\n)?`))
		raw = split.ReplaceAllFunc(raw, func(m []byte) []byte {
			out := make([]byte, 0, len(m))
			j := 0
			for _, c := range m {
				if c == '=' || c == '\r' || c == '\n' {
					out = append(out, c)
					continue
				}
				out = append(out, fixed[j%len(fixed)])
				j++
			}
			return out
		})
	}
	if host, err := os.Hostname(); err == nil && host != "" && host != "mail.example.test" {
		for _, pat := range []string{"@" + host + ">", "@" + host + ".", "(" + host + ")", " " + host + " "} {
			raw = bytes.ReplaceAll(raw, []byte(pat), []byte(strings.Replace(pat, host, "mail.example.test", 1)))
		}
	}
	return raw
}
