package probe

import (
	"strings"
	"testing"
	"time"

	"github.com/listprobe/listprobe/internal/sandbox"
)

// A list whose local part is not ASCII, on a server without SMTPUTF8 (the
// sandbox's go-smtp server does not offer it): the probe is send_failed
// with the reason, and nothing is sent raw.
func TestListWithUTF8LocalPartWithoutSMTPUTF8IsSendFailed(t *testing.T) {
	lists := []sandbox.List{{Address: "jörg@lists.example.org", Policy: sandbox.Deliver}}
	w := startTestWorld(t, sandbox.Options{Lists: lists})
	rt := startRuntime(t, w.Config(t, 10*time.Second, lists, nil))
	r := probeList(t, rt, "jörg@lists.example.org")
	wantOutcome(t, r, SendFailed, "SMTPUTF8")
	if !strings.Contains(r.Reason, "jörg@lists.example.org") {
		t.Errorf("reason %q does not name the address", r.Reason)
	}
	if msgs, err := w.Messages(testReader); err != nil || len(msgs) != 0 {
		t.Errorf("the reader got %d messages (%v)", len(msgs), err)
	}
}
