package web

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/listprobe/listprobe/internal/sandbox"
	"github.com/listprobe/listprobe/probe"
)

// A probe's page lists an unauthenticated copy (issue 15: anyone can send
// the reader one) as not counted, saying why.
func TestResultPageShowsAnUnauthenticatedCopy(t *testing.T) {
	lists := []sandbox.List{{Address: "users@lists.example.org", Policy: sandbox.Drop, Members: []string{testMember}}}
	w := startTestWorld(t, sandbox.Options{Lists: lists})
	rt := startRuntime(t, w.Config(t, 20*time.Second, lists, nil))
	now := time.Now()
	rt.History().Add(&probe.Result{ID: "lost-1", List: "users@lists.example.org", Outcome: probe.Lost, Expected: probe.Delivered, Started: now, Finished: now,
		Reason: "no authenticated copy within 20s; an unauthenticated copy arrived in reader's mailbox at ...",
		Hints: []probe.Hint{{Kind: "probe_copy", Account: "reader", SeenAt: now, Said: "a copy of the probe from member@example.org",
			Why: "not authenticated: no DKIM signature of lists.example.org; Received by mx from [127.0.0.2], not the list server"}}})
	page, _ := getPage(t, rt, "/result?id=lost-1", http.StatusOK)
	for _, want := range []string{"probe_copy", "a copy of the probe from member@example.org", "[127.0.0.2], not the list server", "not counted: anyone could have sent it"} {
		if !strings.Contains(page, want) {
			t.Errorf("the result page does not say %q:\n%s", want, page)
		}
	}
}
