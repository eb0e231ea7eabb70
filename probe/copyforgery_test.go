package probe

import (
	"bytes"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"

	"github.com/listprobe/listprobe/checks/compose"
	"github.com/listprobe/listprobe/internal/sandbox"
)

// sendAsStranger sends raw to rcpt through the world's SMTP server from
// 127.0.0.2, another host than the list server's 127.0.0.1, as a
// subscriber who saw the probe's copy (the member: anyone may be one).
func sendAsStranger(t *testing.T, w *testWorld, rcpt string, raw []byte) {
	t.Helper()
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.IPv4(127, 0, 0, 2)}, Timeout: 5 * time.Second}
	conn, err := d.Dial("tcp", w.SMTPAddr)
	if err != nil {
		t.Fatal(err)
	}
	c := smtp.NewClient(conn)
	defer c.Close()
	if err := c.Hello("mx.stranger.example.net"); err != nil {
		t.Fatal(err)
	}
	if err := c.Auth(sasl.NewPlainClient("", testMember, "member-pw")); err != nil {
		t.Fatal(err)
	}
	if err := c.SendMail(testMember, []string{rcpt}, bytes.NewReader(raw)); err != nil {
		t.Fatal(err)
	}
}

// A copy of the probe forged by a subscriber (issue 15): the probe's
// Message-ID, From, Subject and token, sent to the reader from another
// host. The sandbox's list server is named by its Received hop, so its
// copies must be authenticated: the forged copy is a hint, never the
// delivery and never deleted; the list's own copy, 3s later, is the
// delivery, with its own latency; a list that drops the post leaves the
// probe lost, the reason naming the forged copy.
func TestForgedCopyIsNotADelivery(t *testing.T) {
	for _, tc := range []struct {
		name   string
		policy sandbox.Policy
		want   Outcome
		reason string
	}{
		{"the list's copy comes later: delivered by it", sandbox.Delay, Delivered, "copy seen"},
		{"the list drops the post: lost, naming the forged copy", sandbox.Drop, Lost, "an unauthenticated copy arrived in reader's mailbox"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			const list = "slow@lists.example.org"
			lists := []sandbox.List{{Address: list, Policy: tc.policy, Delay: 3 * time.Second}}
			w := startTestWorld(t, sandbox.Options{Lists: lists})
			cfg := w.Config(t, 8*time.Second, lists, nil)
			if !cfg.CopiesMustAuthenticate(list) {
				t.Fatal("the sandbox's list server does not require authenticated copies")
			}
			svc := startRuntime(t, cfg)
			res := make(chan *Result, 1)
			go func() { res <- probeList(t, svc, list) }()
			waitFor(t, 10*time.Second, "the probe pending", func() bool { return len(svc.reg.pendingFor(list)) == 1 })
			p := svc.reg.pendingFor(list)[0]
			forged, err := compose.Message(compose.Probe{From: testMember, List: list, Token: cfg.Signer().Encode(p.token), Date: p.token.SentAt}, nil)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Contains(forged, []byte(p.messageID)) {
				t.Fatalf("the forged copy does not carry the probe's Message-ID %s", p.messageID)
			}
			sent := time.Now()
			sendAsStranger(t, w, testReader, append([]byte("X-Forged: yes\r\n"), forged...))
			r := <-res
			wantOutcome(t, r, tc.want, tc.reason)
			if tc.want == Delivered && (r.Latency == nil || *r.Latency < time.Since(sent).Seconds()-8 || *r.Latency < 2) {
				t.Errorf("latency %v: want the list's copy's (about 3s), not the forged one's", r.Latency)
			}
			var hint *Hint
			for i := range r.Hints {
				if r.Hints[i].Kind == "probe_copy" {
					hint = &r.Hints[i]
				}
			}
			if hint == nil || hint.Account != "reader" || !strings.Contains(hint.Why, "not authenticated") || !strings.Contains(hint.Why, "[127.0.0.2], not the list server") {
				t.Errorf("hints %+v, want the forged copy, not authenticated", r.Hints)
			}
			if !strings.Contains(r.Log, "an unauthenticated copy arrived in reader's mailbox") {
				t.Errorf("the probe's log does not mention the forged copy:\n%s", r.Log)
			}
			time.Sleep(500 * time.Millisecond) // cleanup runs after the outcome is recorded
			msgs, err := w.Messages(testReader)
			if err != nil {
				t.Fatal(err)
			}
			forgedKept, genuine := false, 0
			for _, m := range msgs {
				if bytes.Contains(m.Raw, []byte("X-Forged: yes")) {
					forgedKept = true
				} else if bytes.Contains(m.Raw, []byte(p.messageID)) {
					genuine++
				}
			}
			if !forgedKept {
				t.Error("the forged copy was deleted")
			}
			if genuine != 0 {
				t.Errorf("%d genuine copies left in the reader's mailbox, want them deleted", genuine)
			}
		})
	}
}
