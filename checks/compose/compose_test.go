package compose

import (
	"bufio"
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-message/mail"
	"github.com/emersion/go-msgauth/dkim"
	"github.com/listprobe/listprobe/checks/token"
)

func composeTestProbe(t *testing.T, dkimOpts *DKIMOptions) (Probe, []byte) {
	t.Helper()
	s, err := token.NewSigner([]byte("message-test-key-0123456789"))
	if err != nil {
		t.Fatal(err)
	}
	p := Probe{
		From:  "probe@example.org",
		List:  "users@lists.example.org",
		Token: s.Encode(s.NewToken("users@lists.example.org", time.Unix(1764086400, 0))),
		Date:  time.Unix(1764086400, 0),
	}
	raw, err := Message(p, dkimOpts)
	if err != nil {
		t.Fatal(err)
	}
	return p, raw
}

func TestMessageFollowsTheProbeMessageRules(t *testing.T) {
	p, raw := composeTestProbe(t, nil)
	r, err := mail.CreateReader(bytes.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	h := r.Header
	if to := h.Get("To"); to != p.List {
		t.Errorf("To = %q, want the list", to)
	}
	if h.Has("Bcc") || h.Has("Cc") {
		t.Error("probe has Bcc or Cc: Mailman holds implicit-destination posts")
	}
	for _, k := range []string{"Precedence", "Auto-Submitted", "X-No-Ack", "X-Ack"} {
		if h.Has(k) {
			t.Errorf("probe carries %s: Mailman would send no hold notice", k)
		}
	}
	fields := h.Fields()
	for fields.Next() {
		if strings.HasPrefix(strings.ToLower(fields.Key()), "list-") {
			t.Errorf("probe carries %s", fields.Key())
		}
	}
	subject, _ := h.Subject()
	if subject == "" || !strings.Contains(subject, p.Token) {
		t.Errorf("Subject %q does not carry the token", subject)
	}
	for _, word := range []string{"help", "subscribe", "unsubscribe", "join", "leave", "confirm", "who", "info"} {
		if strings.HasPrefix(strings.ToLower(subject), word) {
			t.Errorf("Subject %q starts with the command %q", subject, word)
		}
	}
	if id := h.Get("Message-Id"); id != p.MessageID() || !strings.Contains(id, p.Token) || !strings.HasSuffix(id, "@example.org>") {
		t.Errorf("Message-ID = %q", id)
	}
	if h.Get(token.Header) != p.Token {
		t.Errorf("%s = %q", token.Header, h.Get(token.Header))
	}
	if !bytes.Contains(raw, []byte("\r\n\r\n")) || bytes.Contains(bytes.ReplaceAll(raw, []byte("\r\n"), nil), []byte("\n")) {
		t.Error("message is not CRLF throughout")
	}
	if len(raw) > 4096 {
		t.Errorf("probe is %d bytes; keep it small", len(raw))
	}
	if !bytes.Contains(raw, []byte("safe to discard")) {
		t.Error("body does not tell a moderator it is safe to discard")
	}
}

func TestMessageDKIMVerifies(t *testing.T) {
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	_, raw := composeTestProbe(t, &DKIMOptions{Domain: "example.org", Selector: "probe", Key: priv})
	verifications, err := dkim.VerifyWithOptions(bytes.NewReader(raw), &dkim.VerifyOptions{
		LookupTXT: func(domain string) ([]string, error) {
			if domain != "probe._domainkey.example.org" {
				t.Errorf("looked up %s", domain)
			}
			return []string{"v=DKIM1; k=ed25519; p=" + b64(pub)}, nil
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(verifications) != 1 || verifications[0].Err != nil || verifications[0].Domain != "example.org" {
		t.Fatalf("DKIM verifications = %+v", verifications)
	}
	// Still a readable message with the token.
	br := bufio.NewReader(bytes.NewReader(raw))
	if line, _ := br.ReadString('\n'); !strings.HasPrefix(line, "DKIM-Signature:") {
		t.Errorf("first line %q is not the DKIM-Signature", line)
	}
}

func TestMessageRejectsBadInput(t *testing.T) {
	if _, err := Message(Probe{From: "not an address", List: "l@example.org", Token: "x"}, nil); err == nil || !strings.Contains(err.Error(), "From") {
		t.Errorf("bad From: err = %v", err)
	}
	if _, err := Message(Probe{From: "p@example.org", List: "l@example.org"}, nil); err == nil {
		t.Error("empty token accepted")
	}
}

func b64(b []byte) string { return base64.StdEncoding.EncodeToString(b) }
