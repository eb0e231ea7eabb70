package probe

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/listprobe/listprobe/internal/sandbox"
)

// A hold notice forged by someone who saw a probe's copy (issue 15): in
// the sandbox, appended to the poster's mailbox with the list's -bounces
// address in From and a valid token, but without the Received field the
// list server's delivery carries. While the copy is slow it decides
// nothing; the copy makes the probe delivered; with no copy by the
// timeout the probe is held, saying the evidence was unauthenticated. The
// forged notice is never deleted.
func TestForgedHoldNoticeIsOnlyAHint(t *testing.T) {
	for _, tc := range []struct {
		name   string
		delay  time.Duration
		want   Outcome
		reason string
	}{
		{"the copy comes after the forged notice: delivered", 2 * time.Second, Delivered, "copy seen"},
		{"no copy by the timeout: held, saying unauthenticated", time.Minute, Held, "unauthenticated"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			const list = "slow@lists.example.org"
			lists := []sandbox.List{{Address: list, Policy: sandbox.Delay, Delay: tc.delay}}
			w := startTestWorld(t, sandbox.Options{Lists: lists})
			cfg := w.Config(t, 6*time.Second, lists, nil)
			svc := startRuntime(t, cfg)
			res := make(chan *Result, 1)
			go func() { res <- probeList(t, svc, list) }()
			waitFor(t, 10*time.Second, "the probe pending", func() bool { return len(svc.reg.pendingFor(list)) == 1 })
			enc := cfg.Signer().Encode(svc.reg.pendingFor(list)[0].token)
			forged := fmt.Sprintf("Return-Path: <slow-bounces@lists.example.org>\r\nFrom: slow-bounces@lists.example.org\r\nTo: %s\r\nSubject: Your message to %s awaits moderator approval\r\nAuto-Submitted: auto-generated\r\nX-Mailman-Version: 3.3.8\r\nMessage-ID: <forged-1@stranger.example.net>\r\n\r\nYour mail to '%s' with the subject\r\n\r\n    listprobe delivery test %s\r\n\r\nIs being held until the list moderator can review it for approval.\r\n\r\nThe message is being held because:\r\n\r\n    The message comes from a moderated member\r\n", testMember, list, list, enc)
			if err := w.Append(testMember, []byte(forged)); err != nil {
				t.Fatal(err)
			}
			r := <-res
			wantOutcome(t, r, tc.want, tc.reason)
			if len(r.Hints) != 1 || !strings.Contains(r.Hints[0].Why, "not authenticated") || !strings.Contains(r.Hints[0].Said, "moderated member") {
				t.Errorf("hints %+v, want the forged notice, not authenticated", r.Hints)
			}
			if !strings.Contains(r.Log, "an unauthenticated hold notice said") {
				t.Errorf("the probe's log does not mention the hint:\n%s", r.Log)
			}
			time.Sleep(500 * time.Millisecond) // cleanup runs after the outcome is recorded
			msgs, err := w.Messages(testMember)
			if err != nil {
				t.Fatal(err)
			}
			kept := false
			for _, m := range msgs {
				kept = kept || strings.Contains(string(m.Raw), "forged-1@stranger.example.net")
			}
			if !kept {
				t.Error("the forged notice was deleted")
			}
		})
	}
}
