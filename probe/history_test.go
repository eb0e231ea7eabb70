package probe

import (
	"fmt"
	"math"
	"strings"
	"testing"
	"time"
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
