package probe

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/listprobe/listprobe/checks"
	"github.com/listprobe/listprobe/checks/imapwatch"
)

// A copy that is not authenticated where the list's copies must be (issue
// 15: anyone can send the reader the probe's Message-ID, From, Subject and
// token) is a hint: it sets no latency and decides nothing, an
// authenticated copy that comes later is the delivery, it contradicts no
// notice, and at the timeout the probe is whatever the rest says, or lost
// naming it; error when DNS kept it from being checked.
func TestUnauthenticatedCopiesAreHints(t *testing.T) {
	accepted := time.Date(2026, 12, 2, 1, 0, 0, 0, time.UTC)
	why := "not authenticated: no DKIM signature of lists.example.org, no Received hop from the list server"
	forged := sighting{kind: checks.KindProbeCopy, account: "reader", from: "member@example.org", trust: TrustHint, trustWhy: why, seenAt: accepted.Add(time.Second)}
	forgedPoster := forged
	forgedPoster.account = "member"
	dnsFailed := forged
	dnsFailed.trustWhy, dnsFailed.dnsFailed = "could not be authenticated: DNS lookup failed: list._domainkey.lists.example.org: timeout", true
	real := sighting{kind: checks.KindProbeCopy, account: "reader", trust: TrustAuthenticated, seenAt: accepted.Add(3 * time.Second), deletable: true, uid: 7}
	unmarked := real
	unmarked.trust, unmarked.trustWhy = TrustUnauthenticated, "copies unauthenticated: a forged copy would count (not authenticated: no DKIM signature of lists.example.org)"
	hold := sighting{kind: checks.KindHoldNotice, manager: "mailman3", account: "member", reason: "The message comes from a moderated member", trust: TrustAuthenticated}
	holdHint := hold
	holdHint.trust, holdHint.trustWhy = TrustHint, why
	for _, tc := range []struct {
		name      string
		seen      []sighting
		outcome   Outcome
		reason    []string // in the reason
		latency   float64  // seconds; 0: none
		copyHints int
	}{
		{"a stranger's copy, then the list's: delivered by the list's, with its latency", []sighting{forged, real}, Delivered, []string{"copy seen"}, 3, 1},
		{"a stranger's copy, then an authenticated hold notice: held", []sighting{forged, hold}, Held, []string{"moderated member"}, 0, 1},
		{"a stranger's copy and nothing else: lost, naming it", []sighting{forged}, Lost,
			[]string{"no authenticated copy within 1m0s", "an unauthenticated copy arrived in reader's mailbox at 2026-12-02T01:00:01Z", "no DKIM signature"}, 0, 1},
		{"a stranger's copy in the poster's mailbox does not contradict an unauthenticated hold notice", []sighting{forgedPoster, holdHint}, Held, []string{"unauthenticated"}, 0, 1},
		{"a copy DNS kept from being checked: error, not lost", []sighting{dnsFailed}, Error, []string{"DNS lookup failed", "neither believed nor disbelieved"}, 0, 1},
		{"an unauthenticated copy where none can be authenticated counts, marked", []sighting{unmarked}, Delivered, []string{"copy seen", "a forged copy would count"}, 3, 0},
		{"stranger's copies cannot crowd out the notices", []sighting{forged, forged, forged, forged, forged, forged, forged, holdHint}, Held, []string{"unauthenticated"}, 0, maxCopyHints},
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
			res := r.res
			if res.Outcome != tc.outcome {
				t.Errorf("outcome %s %q, want %s", res.Outcome, res.Reason, tc.outcome)
			}
			for _, s := range tc.reason {
				if !strings.Contains(res.Reason, s) {
					t.Errorf("reason %q does not say %q", res.Reason, s)
				}
			}
			switch {
			case tc.latency == 0 && res.Latency != nil:
				t.Errorf("latency %v from an unauthenticated copy", *res.Latency)
			case tc.latency != 0 && (res.Latency == nil || *res.Latency != tc.latency):
				t.Errorf("latency %v, want %vs (the authenticated copy's)", res.Latency, tc.latency)
			}
			n := 0
			for _, h := range res.Hints {
				if h.Kind != string(checks.KindProbeCopy) {
					continue
				}
				n++
				if h.Contradicted != "" || h.Why == "" || h.Said == "" || h.Used != (tc.outcome == Error) {
					t.Errorf("copy hint %+v", h)
				}
			}
			if n != tc.copyHints {
				t.Errorf("%d copy hints, want %d: %+v", n, tc.copyHints, res.Hints)
			}
			for _, c := range r.cleanup {
				if c.trust == TrustHint {
					t.Errorf("an unauthenticated copy is kept for cleanup: %+v", c)
				}
			}
		})
	}
}

// With several readers, a reader that got only a stranger's copy is lost,
// its reason naming that copy, and so is the list (the worst reader's).
func TestUnauthenticatedCopyOfOneOfSeveralReaders(t *testing.T) {
	accepted := time.Date(2026, 12, 2, 1, 0, 0, 0, time.UTC)
	reader := fakeSession("reader", true, nil)
	reader.box = imapwatch.New(imapwatch.Options{Address: "127.0.0.1:1"})
	other := fakeSession("reader2", true, nil)
	other.box = imapwatch.New(imapwatch.Options{Address: "127.0.0.1:1"})
	r := fakeRun(reader, nil)
	r.readers = append(r.readers, &readerRun{account: "reader2", box: other})
	r.pending.sightings <- &sighting{kind: checks.KindProbeCopy, account: "reader", trust: TrustAuthenticated, seenAt: accepted.Add(time.Second)}
	r.pending.sightings <- &sighting{kind: checks.KindProbeCopy, account: "reader2", trust: TrustHint, seenAt: accepted.Add(2 * time.Second),
		trustWhy: "not authenticated: no DKIM signature of lists.example.org"}
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	if !awaitEvidence(ctx, r) {
		t.Fatal("undecided")
	}
	if r.res.Outcome != Lost || !strings.Contains(r.res.Reason, "an unauthenticated copy arrived in reader2's mailbox") {
		t.Errorf("outcome %s %q, want lost naming reader2's unauthenticated copy", r.res.Outcome, r.res.Reason)
	}
}
