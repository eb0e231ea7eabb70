package sandbox

import (
	"strings"
	"testing"
	"time"

	"github.com/listprobe/listprobe/checks/compose"
	"github.com/listprobe/listprobe/checks/token"
)

// The real probe message survives each list the way listprobe expects:
// its token verifies in the copy's own header, Message-ID and prefixed
// Subject, and in the subject a hold notice quotes.
func TestRealProbeMessageThroughDemoLists(t *testing.T) {
	signer, err := token.NewSigner([]byte("sandbox-test-signing-key-0123456789"))
	if err != nil {
		t.Fatal(err)
	}
	w := startSandboxWorld(t, DemoOptions())
	newProbe := func(list string) (string, []byte) {
		tok := signer.Encode(signer.NewToken(list, time.Now()))
		raw, err := compose.Message(compose.Probe{From: DemoMember, List: list, Token: tok, Date: time.Now()}, nil)
		if err != nil {
			t.Fatal(err)
		}
		return tok, raw
	}
	verifyAll := func(where, text, want string) {
		t.Helper()
		found := token.Find(text)
		if len(found) == 0 {
			t.Errorf("%s: no token in %q", where, text)
		}
		for _, f := range found {
			if _, err := signer.Verify(f); err != nil {
				t.Errorf("%s: token %s: %v", where, f, err)
				continue
			}
			if f != want {
				t.Errorf("%s: token %s, want %s", where, f, want)
			}
		}
	}

	tok, raw := newProbe(DemoHealthy)
	mustSubmitAsMember(t, w, DemoHealthy, raw)
	copies := waitInbox(t, w, DemoReader, DemoReaderPassword, 1)
	h := copies[0].header(t)
	if !strings.HasPrefix(h.Get("Subject"), "[Healthy] "+compose.SubjectPrefix+" ") {
		t.Errorf("copy Subject %q", h.Get("Subject"))
	}
	verifyAll("copy "+token.Header, h.Get(token.Header), tok)
	verifyAll("copy Message-ID", h.Get("Message-ID"), tok)
	verifyAll("copy Subject", h.Get("Subject"), tok)

	tok, raw = newProbe(DemoModerated)
	mustSubmitAsMember(t, w, DemoModerated, raw)
	notices := waitInbox(t, w, DemoMember, DemoMemberPassword, 1)
	verifyAll("hold notice body", notices[0].body(t), tok)
	if held := w.Held(DemoModerated); len(held) != 1 || !strings.Contains(held[0].MessageID, tok) {
		t.Errorf("Held = %+v, want the probe", held)
	}
}
