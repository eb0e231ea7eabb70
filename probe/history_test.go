package probe

import (
	"fmt"
	"math"
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
