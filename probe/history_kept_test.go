package probe

import (
	"fmt"
	"math"
	"reflect"
	"runtime"
	"strings"
	"testing"
	"time"
)

// A packed success gives back everything the pages show: every field of
// the Result but its log and token.
func TestKeptSuccessGivesBackWhatPagesShow(t *testing.T) {
	lat, archLat, rlat := 2.5, 30.0, 1.25
	sent := time.Date(2026, 12, 6, 20, 0, 0, 0, time.UTC)
	local := time.FixedZone("CET", 3600)
	full := &Result{ID: "lp1.abc", List: "users@lists.example.org", Outcome: Delivered, Expected: Delivered, OK: true,
		Reason: "copy seen", Evidence: "copy in INBOX", Latency: &lat, MessageID: "<lp1.abc@example.org>", SentAt: sent,
		Hops: []Hop{{By: "mx.example.org", With: "ESMTPS", At: sent.Add(time.Second).In(local), Seconds: 1},
			{By: "lists.example.org", With: "LMTP", Seconds: 0, ClampedFrom: -3}, {By: "", With: "", Seconds: math.NaN()}},
		Authentication: &Authentication{DKIM: AuthCheck{Result: AuthPass, Domain: "lists.example.org"}},
		Readers:        []ReaderResult{{Reader: "reader", Outcome: Delivered, Latency: &rlat, Placement: "inbox"}},
		Hints:          []Hint{{Kind: "bounce", Said: "no", Why: "unsigned", Contradicted: "copy"}},
		Archive:        &ArchiveResult{Result: "archived", Latency: &archLat, Reason: "seen"},
		Posted:         true, Token: "secret-token", SubmitReply: "250 2.0.0 Ok", SubmitDuration: 120 * time.Millisecond,
		AcceptedAt: sent.Add(100 * time.Millisecond), Started: time.Now(), Finished: time.Now().Add(3 * time.Second), Log: "a log"}
	// Every field set above: a field added to Result must be packed too
	// (or, like the log and token, be said to be dropped).
	if n := reflect.TypeFor[Result]().NumField(); n != 23 {
		t.Fatalf("Result has %d fields, this test knows 23: pack the new one in keptSuccess and set it above", n)
	}
	k := compact(full, nil)
	if k == nil {
		t.Fatal("a delivered result with hops, readers, hints and archive was not packed")
	}
	got := k.expand(full.List)
	want := *full
	want.Log, want.Token = "", ""
	same := func(a, b time.Time) bool { return a.Equal(b) }
	for _, tm := range [][2]time.Time{{got.SentAt, want.SentAt}, {got.AcceptedAt, want.AcceptedAt}, {got.Started, want.Started}, {got.Finished, want.Finished}, {got.Hops[0].At, want.Hops[0].At}} {
		if !same(tm[0], tm[1]) {
			t.Errorf("time %v given back as %v", tm[1], tm[0])
		}
	}
	if !math.IsNaN(got.Hops[2].Seconds) {
		t.Errorf("a hop without a duration given back with %v", got.Hops[2].Seconds)
	}
	// Times compared above; the rest field by field.
	got.SentAt, got.AcceptedAt, got.Started, got.Finished = want.SentAt, want.AcceptedAt, want.Started, want.Finished
	got.Hops[0].At, got.Hops[2].Seconds, want.Hops = want.Hops[0].At, 0, append([]Hop(nil), want.Hops...)
	want.Hops[2].Seconds = 0
	if !reflect.DeepEqual(*got, want) {
		t.Errorf("given back\n%+v\nwant\n%+v", *got, want)
	}
	if *got.Latency != lat || got.Latency == full.Latency {
		t.Error("latency not given back as its own value")
	}
	var zero Result
	zero.Outcome, zero.Expected = Lost, Delivered
	if z := compact(&zero, nil).expand(""); !z.SentAt.IsZero() || !z.Finished.IsZero() || z.Latency != nil || z.Hops != nil || z.Readers != nil {
		t.Errorf("a result without times, latency or hops given back as %+v", z)
	}
}

// What cannot be packed without changing what the pages show is kept in
// full (less its log).
func TestKeptSuccessKeepsInFullWhatItCannotPack(t *testing.T) {
	base := func() *Result {
		return &Result{ID: "x", Outcome: Delivered, Expected: Delivered, OK: true, Finished: chartStart}
	}
	odd := map[string]func(r *Result){
		"unknown outcome":       func(r *Result) { r.Outcome = "weird" },
		"unknown expectation":   func(r *Result) { r.Expected = "weird" },
		"year 3000":             func(r *Result) { r.Finished = time.Date(3000, 1, 1, 0, 0, 0, 0, time.UTC) },
		"hop date with nanos":   func(r *Result) { r.Hops = []Hop{{At: chartStart.Add(time.Millisecond)}} },
		"hop seconds fraction":  func(r *Result) { r.Hops = []Hop{{Seconds: 0.1}} },
		"hop clamped huge":      func(r *Result) { r.Hops = []Hop{{ClampedFrom: -1e12 - 1}} },
		"latency not a number":  func(r *Result) { nan := math.NaN(); r.Latency = &nan },
		"hop in the year 10000": func(r *Result) { r.Hops = []Hop{{At: time.Date(10000, 1, 1, 0, 0, 0, 1, time.UTC)}} },
	}
	for name, change := range odd {
		r := base()
		change(r)
		if compact(r, nil) != nil {
			t.Errorf("%s: packed", name)
		}
		h := NewHistory(10, 10)
		r.ID, r.List, r.Log = "odd", "l@lists.example.org", "its log"
		h.Add(r)
		h.Add(&Result{ID: "next", List: r.List, Outcome: Delivered, Expected: Delivered, OK: true, Finished: chartStart.Add(time.Hour)})
		if got := h.Get("odd"); got == nil || got.Outcome != r.Outcome || !got.Finished.Equal(r.Finished) || got.Log != "" || len(got.Hops) != len(r.Hops) {
			t.Errorf("%s: kept as %+v", name, got)
		}
	}
}

// MaxKeptSuccessBytes bounds the heap a success holds once a newer result
// of its list came (packed, with its Message-ID, SMTP reply, four hops,
// its share of the chart and of the history's index), as the benchmarks'
// results carry them.
const MaxKeptSuccessBytes = 640

func TestKeptSuccessStaysSmall(t *testing.T) {
	const lists, perList = 2000, 10
	fill := func(n int) (*History, uint64) {
		before := heapInUse()
		h := NewHistory(perList, 50)
		for i := range lists {
			for j := range n {
				h.Add(keptBenchResult(i, j, j == n-1))
			}
		}
		after := heapInUse()
		runtime.KeepAlive(h)
		return h, after - before
	}
	_, newestOnly := fill(1)
	h, full := fill(perList)
	per := (float64(full) - float64(newestOnly)) / float64(lists*(perList-1))
	t.Logf("%.0f bytes per packed success (%d lists: %d bytes with the newest result only, %d with %d results)", per, lists, newestOnly, full, perList)
	if per > MaxKeptSuccessBytes {
		t.Errorf("a kept success holds %.0f bytes, want at most %d", per, MaxKeptSuccessBytes)
	}
	if got := h.Recent(keptBenchList(7)); len(got) != perList || got[1].Log != "" || got[1].SubmitReply == "" || len(got[1].Hops) != 4 {
		t.Errorf("list 7 keeps %d results, an older one %+v", len(got), got[1])
	}
}

func keptBenchList(i int) string { return fmt.Sprintf("bench-%05d-deliver@lists.bench.test", i) }

// keptBenchResult is a delivered probe as a long run gives it, its texts
// each allocated apart as a probe's are; with its log if newest.
func keptBenchResult(i, j int, withLog bool) *Result {
	lat := 1.5
	r := &Result{ID: fmt.Sprintf("lp1.%05d%03d.abcdefgh", i, j), List: keptBenchList(i), Outcome: Delivered, Expected: Delivered, OK: true, Latency: &lat,
		Reason: fmt.Sprint("copy seen in the reader's mailbox"), Evidence: fmt.Sprint("copy in INBOX"),
		MessageID: fmt.Sprintf("<lp1.%05d%03d.abcdefgh@lists.bench.test>", i, j), Posted: true,
		SubmitReply: fmt.Sprintf("250 2.0.0 Ok: queued as 4A%05d%03d", i, j), Hops: benchHops(),
		Authentication: &Authentication{DKIM: AuthCheck{Result: AuthPass, Domain: fmt.Sprint("lists.bench", ".test")}},
		SentAt:         chartStart.Add(time.Duration(j) * time.Minute), AcceptedAt: chartStart.Add(time.Duration(j) * time.Minute),
		Started: chartStart.Add(time.Duration(j) * time.Minute), Finished: chartStart.Add(time.Duration(j)*time.Minute + time.Second)}
	if withLog {
		r.Log = strings.Repeat("time=2026-12-06T18:00:00Z level=DEBUG msg=\"IMAP FETCH\" uid=4711\n", 15)
	}
	return r
}

// A list's packed successes share a route that did not change, and only
// such a route.
func TestKeptSuccessesShareTheirRoute(t *testing.T) {
	h := NewHistory(10, 10)
	for j := range 4 {
		r := keptBenchResult(1, j, false)
		if j == 2 {
			r.Hops[1].By = "other.lists.bench.test"
		}
		h.Add(r)
	}
	lh := h.lists[keptBenchList(1)]
	if len(lh.ok) != 3 || lh.ok[0].small == nil || lh.ok[2].small == nil {
		t.Fatalf("kept %+v", lh.ok)
	}
	if &lh.ok[0].small.route[0] != &lh.ok[1].small.route[0] {
		t.Error("the same route is kept twice")
	}
	if &lh.ok[1].small.route[0] == &lh.ok[2].small.route[0] || h.Get(lh.ok[2].id()).Hops[1].By != "other.lists.bench.test" || h.Get(lh.ok[1].id()).Hops[1].By != "mx1.lists.bench.test" {
		t.Error("a changed route was replaced by the one before")
	}
}
