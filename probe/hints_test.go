package probe

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/listprobe/listprobe/checks"
	"github.com/listprobe/listprobe/checks/imapwatch"
)

// An unauthenticated notice is a hint (issue 15): it never decides while a
// copy may come, any copy of the probe contradicts it, and only when the
// timeout passes with no copy does it decide, saying it was
// unauthenticated; a notice DNS kept from being checked makes that error.
func TestHintsDecideOnlyAtTheTimeout(t *testing.T) {
	hold := sighting{kind: checks.KindHoldNotice, manager: "mailman3", account: "member", reason: "The message comes from a moderated member",
		trust: TrustHint, trustWhy: "not authenticated: no DKIM signature of lists.example.org"}
	dsn := sighting{kind: checks.KindBounce, manager: "mta", account: "member", recipient: "list@lists.example.org", reason: "550 5.7.1 refused",
		trust: TrustHint, trustWhy: "not authenticated: no DKIM signature of lists.example.org"}
	dnsFail := hold
	dnsFail.trustWhy, dnsFail.dnsFailed = "could not be authenticated: DNS lookup failed: list._domainkey.lists.example.org: server misbehaving", true
	posterCopy := sighting{kind: checks.KindProbeCopy, account: "member"}
	readerCopy := sighting{kind: checks.KindProbeCopy, account: "reader"}
	for _, tc := range []struct {
		name     string
		seen     []sighting
		outcome  Outcome
		reason   string // in the reason
		hints    int
		contrad  int // hints contradicted
		deadline bool
	}{
		{"a forged hold notice, then the copy: delivered", []sighting{hold, readerCopy}, Delivered, "copy seen", 1, 0, false},
		{"a forged DSN, then the copy: delivered", []sighting{dsn, readerCopy}, Delivered, "copy seen", 1, 0, false},
		{"a forged hold notice and no copy: held, unauthenticated", []sighting{hold}, Held, "unauthenticated", 1, 0, true},
		{"a forged DSN and no copy: rejected, unauthenticated", []sighting{dsn}, Rejected, "unauthenticated", 1, 0, true},
		{"the poster's copy, then a hold notice: contradicted, lost", []sighting{posterCopy, hold}, Lost, "no copy and no evidence", 1, 1, true},
		{"a hold notice, then the poster's copy: contradicted, lost", []sighting{hold, posterCopy}, Lost, "no copy and no evidence", 1, 1, true},
		{"a notice DNS kept from being checked: error, saying why", []sighting{dnsFail}, Error, "DNS lookup failed", 1, 0, true},
		{"an unauthenticated bounce of a subscriber is no hint", []sighting{{kind: checks.KindBounce, account: "member", recipient: "x@example.net", trust: TrustHint}}, Lost, "no copy", 0, 0, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			reader := fakeSession("reader", true, nil)
			reader.box = imapwatch.New(imapwatch.Options{Address: "127.0.0.1:1"}) // never run: never stalled
			r := fakeRun(reader, nil)
			for _, e := range tc.seen {
				r.pending.sightings <- &e
			}
			ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
			defer cancel()
			if !awaitEvidence(ctx, r) {
				t.Fatal("undecided")
			}
			if r.res.Outcome != tc.outcome || !strings.Contains(r.res.Reason, tc.reason) {
				t.Errorf("outcome %s %q, want %s containing %q", r.res.Outcome, r.res.Reason, tc.outcome, tc.reason)
			}
			if tc.outcome != Delivered && tc.outcome != Lost && !strings.Contains(r.res.Reason, strings.TrimPrefix(strings.TrimPrefix(tc.seen[0].trustWhy, "not authenticated: "), "could not be authenticated: ")) {
				t.Errorf("reason %q does not say why the evidence is not believed", r.res.Reason)
			}
			if len(r.res.Hints) != tc.hints {
				t.Fatalf("hints %+v, want %d", r.res.Hints, tc.hints)
			}
			n := 0
			for _, h := range r.res.Hints {
				if h.Contradicted != "" {
					n++
				}
				if h.Used != (tc.outcome == Held || tc.outcome == Rejected || tc.outcome == Error) {
					t.Errorf("hint used %v with outcome %s", h.Used, r.res.Outcome)
				}
				if h.Said == "" || h.Why == "" {
					t.Errorf("hint %+v does not say what it said and why it is not believed", h)
				}
			}
			if n != tc.contrad {
				t.Errorf("%d hints contradicted, want %d: %+v", n, tc.contrad, r.res.Hints)
			}
			if len(r.cleanup) != 0 {
				t.Errorf("a hint is kept for cleanup: %+v", r.cleanup)
			}
		})
	}
}
