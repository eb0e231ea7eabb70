package probe

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	gomail "github.com/emersion/go-message/mail"
	"github.com/listprobe/listprobe/checks"
	"github.com/listprobe/listprobe/probe/config"
)

// Received dates out of order (a server an hour behind, a forged field five
// days old) never give a negative hop: the hop is clamped to zero, the JSON
// says from what, and listprobe_last_hop_seconds is never below zero.
func TestHopsOutOfOrderAreClampedToZero(t *testing.T) {
	var h gomail.Header
	// Add puts a field on top, as servers prepend theirs: oldest first.
	h.Add("Received", "from b by first.example.org with ESMTPSA; Sun, 6 Dec 2026 11:00:05 +0000")
	h.Add("Received", "from a by submit.example.org with ESMTPSA; Tue, 1 Dec 2026 11:00:05 +0000")
	h.Add("Received", "from submit.example.org by lists.example.org with ESMTP; Sun, 6 Dec 2026 11:00:05 +0000")
	h.Add("Received", "from lists.example.org by reader.example.org with LMTP; Sun, 6 Dec 2026 10:00:05 +0000")
	hops := hopsOf(checks.Hops(h))
	if len(hops) != 4 {
		t.Fatalf("%d hops, want 4", len(hops))
	}
	want := []struct{ seconds, clampedFrom float64 }{{0, 0}, {0, -432000}, {432000, 0}, {0, -3600}}
	for i, w := range want {
		if hops[i].Seconds != w.seconds || hops[i].ClampedFrom != w.clampedFrom {
			t.Errorf("hop %d: seconds %v clamped_from %v, want %v and %v", i+1, hops[i].Seconds, hops[i].ClampedFrom, w.seconds, w.clampedFrom)
		}
	}

	raw, err := json.Marshal(&Result{List: "l@lists.example.org", Outcome: Delivered, Hops: hops})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(raw), `"seconds":0,"clamped_from_seconds":-432000}`) || !strings.Contains(string(raw), `"clamped_from_seconds":-3600}`) {
		t.Errorf("JSON does not say which hops were clamped: %s", raw)
	}
	if strings.Count(string(raw), "clamped_from_seconds") != 2 {
		t.Errorf("JSON marks hops that were not clamped: %s", raw)
	}

	m := NewMetrics()
	m.Configure(&config.Config{Lists: []*config.ListConfig{{Address: "l@lists.example.org", Expect: config.ExpectDelivered}}, Accounts: map[string]*config.AccountConfig{}})
	lat := 1.0
	m.Record(&Result{List: "l@lists.example.org", Outcome: Delivered, Expected: Delivered, OK: true, Latency: &lat, Hops: hops, Finished: time.Now()})
	for i := 1; i <= 4; i++ {
		if got := seriesValue(t, m, "listprobe_last_hop_seconds", "list", "l@lists.example.org", "hop", string(rune('0'+i))); !(got >= 0) {
			t.Errorf("listprobe_last_hop_seconds{hop=%d} = %v, want >= 0", i, got)
		}
	}

}
