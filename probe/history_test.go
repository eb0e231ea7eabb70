package probe

import (
	"fmt"
	"math"
	"runtime"
	"strings"
	"testing"
	"time"
	"unsafe"
)

var chartStart = time.Date(2026, 11, 25, 16, 0, 0, 0, time.UTC)

func TestHistoryKeepsTheLastSamplesOldestFirst(t *testing.T) {
	h := NewHistory(2, 3)
	for i := range MaxSamples + 7 {
		lat := float64(i)
		r := &Result{ID: fmt.Sprint(i), List: "users@lists.example.org", Outcome: Delivered, OK: true, Latency: &lat, Finished: chartStart.Add(time.Duration(i) * time.Minute)}
		if i%5 == 0 {
			r.Outcome, r.OK, r.Latency = Lost, false, nil
		}
		h.Add(r)
	}
	recent, samples, late := h.Snapshot("users@lists.example.org")
	if len(samples) != MaxSamples || len(recent) != 5 || len(late) != 0 {
		t.Fatalf("%d samples, %d results, %d late; want %d, 5, 0", len(samples), len(recent), len(late), MaxSamples)
	}
	for i, s := range samples {
		n := i + 7
		if !s.At.Equal(chartStart.Add(time.Duration(n) * time.Minute)) {
			t.Fatalf("sample %d at %v, want probe %d's time", i, s.At, n)
		}
		if n%5 == 0 {
			if s.Outcome != Lost || s.OK || !math.IsNaN(s.Latency) {
				t.Errorf("sample %d = %+v, want lost without latency", i, s)
			}
		} else if s.Outcome != Delivered || !s.OK || s.Latency != float64(n) {
			t.Errorf("sample %d = %+v, want delivered in %d s", i, s, n)
		}
	}
	if _, got, _ := h.Snapshot("other@lists.example.org"); got != nil {
		t.Errorf("unknown list has samples %v", got)
	}
}

func TestHistoryRetainForgetsRemovedLists(t *testing.T) {
	h := NewHistory(2, 3)
	for i, list := range []string{"kept@lists.example.org", "removed@lists.example.org", "kept@lists.example.org", "removed@lists.example.org"} {
		h.Add(&Result{ID: fmt.Sprint(i), List: list, Outcome: Lost, Finished: chartStart.Add(time.Duration(i) * time.Minute)})
	}
	h.Retain(func(list string) bool { return list == "kept@lists.example.org" })
	if h.Get("1") != nil || h.Get("3") != nil || samplesOf(h, "removed@lists.example.org") != nil || h.Last("removed@lists.example.org") != nil {
		t.Error("a removed list's history is still there")
	}
	if h.Get("0") == nil || h.Get("2") == nil || len(samplesOf(h, "kept@lists.example.org")) != 2 {
		t.Error("a kept list's history is gone")
	}
}

func samplesOf(h *History, list string) []Sample {
	_, samples, _ := h.Snapshot(list)
	return samples
}

func TestHistoryKeepsLogsOfFailuresAndOfTheNewestSuccessOnly(t *testing.T) {
	h := NewHistory(10, 10)
	const list = "users@lists.example.org"
	long := strings.Repeat("x", 3*MaxKeptLog)
	for i := range 4 {
		r := &Result{ID: fmt.Sprint(i), List: list, Outcome: Delivered, OK: true, Log: fmt.Sprintf("log of probe %d\n", i), Finished: chartStart.Add(time.Duration(i) * time.Minute)}
		if i == 1 {
			r.Outcome, r.OK, r.Log = Lost, false, "start "+long+" end"
		}
		h.Add(r)
	}
	recent := h.Recent(list)
	if len(recent) != 4 {
		t.Fatalf("%d results kept, want 4", len(recent))
	}
	if recent[0].Log != "log of probe 3\n" || h.Get("3").Log != recent[0].Log {
		t.Errorf("newest success's log = %q, want it kept", recent[0].Log)
	}
	if recent[1].Log != "" || h.Get("2").Log != "" || recent[3].Log != "" {
		t.Errorf("older successes keep logs %q, %q", recent[1].Log, recent[3].Log)
	}
	failed := h.Get("1").Log
	if len(failed) > MaxKeptLog+100 || !strings.HasPrefix(failed, "start ") || !strings.HasSuffix(failed, " end") || !strings.Contains(failed, "not kept") {
		t.Errorf("failure's log is %d bytes (%.20q … %.20q), want its head and tail within %d", len(failed), failed, failed[max(0, len(failed)-20):], MaxKeptLog)
	}
}

// BenchmarkHistoryMemory fills the history of 10,000 lists as a long run
// leaves it (each list's 10 newest successes, its chart's samples, and
// failures for one list in ten) and reports the heap it holds per list
// and per kept result: the README's memory figures come from it.
func BenchmarkHistoryMemory(b *testing.B) {
	const lists = 10000
	log := strings.Repeat("time=2026-12-06T18:00:00Z level=DEBUG msg=\"IMAP FETCH\" uid=4711 list=x\n", 15) // about 1 KB, a probe's log
	for _, failures := range []int{0, 10, 50} {
		b.Run(fmt.Sprintf("failures=%d", failures), func(b *testing.B) {
			for b.Loop() {
				before := heapInUse()
				h := NewHistory(10, 50)
				kept := 0
				for i := range lists {
					list := fmt.Sprintf("bench-%05d-deliver@lists.bench.test", i)
					n := MaxSamples
					for j := range n {
						lat := 1.5
						r := &Result{ID: fmt.Sprintf("lp1.%05d%03d", i, j), List: list, Outcome: Delivered, Expected: Delivered, OK: true, Latency: &lat,
							Reason: "copy seen in the reader's mailbox", Evidence: "copy in INBOX", MessageID: "<lp1.abcdefghijklmnop@example.org>",
							SubmitReply: "250 2.0.0 Ok: queued as 4ABCDEF", Log: fmt.Sprint(log, i, j), Hops: benchHops(),
							Authentication: &Authentication{DKIM: AuthCheck{Result: AuthPass, Domain: fmt.Sprint("lists.bench", ".test")}, DMARC: AuthCheck{Result: AuthNone, Reason: fmt.Sprint("no DMARC record")}},
							Started:        chartStart.Add(time.Duration(j) * time.Minute), Finished: chartStart.Add(time.Duration(j)*time.Minute + time.Second)}
						if i%10 == 3 && j >= n-failures {
							r.Outcome, r.OK, r.Latency, r.Hops, r.Reason = Held, false, nil, nil, "held by Mailman: The message is not from a list member"
						}
						h.Add(r)
					}
				}
				for i := range lists {
					kept += len(h.Recent(fmt.Sprintf("bench-%05d-deliver@lists.bench.test", i)))
				}
				after := heapInUse()
				b.ReportMetric(float64(after-before)/lists, "bytes/list")
				b.ReportMetric(float64(after-before)/float64(kept), "bytes/result")
				b.ReportMetric(float64(after-before)/(1<<20), "MiB")
				runtime.KeepAlive(h)
			}
		})
	}
}

func heapInUse() uint64 {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}

// A list's results share the texts and verdict that did not change, and
// only those.
func TestHistorySharesWhatDidNotChange(t *testing.T) {
	h := NewHistory(10, 50)
	verdict := func() *Authentication {
		return &Authentication{DKIM: AuthCheck{Result: AuthPass, Domain: "lists.example.org"}, SPF: AuthCheck{Result: AuthPass}}
	}
	result := func(id, reason, by string, finished time.Time) *Result {
		return &Result{ID: id, List: "l@lists.example.org", Outcome: Delivered, Expected: Delivered, OK: true,
			Reason: strings.Clone(reason), Evidence: strings.Clone("copy in INBOX"), Authentication: verdict(),
			Hops: []Hop{{By: strings.Clone(by), With: strings.Clone("ESMTP")}}, Finished: finished}
	}
	first := result("a", "copy seen", "mx.example.org", chartStart)
	h.Add(first)
	second := result("b", "copy seen", "mx2.example.org", chartStart.Add(time.Minute))
	h.Add(second)
	same := func(a, b string) bool { return unsafe.StringData(a) == unsafe.StringData(b) }
	if !same(first.Reason, second.Reason) || !same(first.Evidence, second.Evidence) || first.Authentication != second.Authentication ||
		!same(first.Hops[0].With, second.Hops[0].With) {
		t.Error("the second result keeps its own copies of what did not change")
	}
	if second.Hops[0].By != "mx2.example.org" || second.Reason != "copy seen" {
		t.Errorf("a changed text was replaced: %+v", second)
	}
	third := result("c", "copy seen", "mx2.example.org", chartStart.Add(2*time.Minute))
	third.Authentication.DKIM.Result = AuthFail
	h.Add(third)
	if third.Authentication == second.Authentication || third.Authentication.DKIM.Result != AuthFail {
		t.Error("a changed verdict was replaced by the earlier one")
	}
	if got := h.Recent("l@lists.example.org"); len(got) != 3 || got[0].Authentication.DKIM.Result != AuthFail || got[1].Authentication.DKIM.Result != AuthPass {
		t.Errorf("history: %v", got)
	}
}

// benchHops are a copy's four hops as the checks read them, each text a
// string of its own.
func benchHops() []Hop {
	hops := make([]Hop, 4)
	for i := range hops {
		hops[i] = Hop{By: fmt.Sprint("mx", i, ".lists.bench.test"), With: fmt.Sprint("ESMTPS"), Seconds: float64(i)}
	}
	return hops
}
