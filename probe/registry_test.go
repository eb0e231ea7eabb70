package probe

import (
	"fmt"
	"runtime"
	"testing"
	"time"

	"github.com/listprobe/listprobe/checks/token"
	"github.com/listprobe/listprobe/probe/config"
)

// A finished probe is remembered as it finished: its list, outcome, time
// and signer; a lost one's late copy is counted once.
func TestRegistryRemembersFinishedProbes(t *testing.T) {
	r := newRegistry()
	signer := &token.Signer{}
	cfg := &config.Config{}
	at := time.Date(2026, 12, 6, 21, 0, 0, 123, time.UTC)
	for i, o := range Outcomes {
		p := &pendingProbe{list: &config.ListConfig{Address: fmt.Sprint("l", i, "@lists.example.org")}, cfg: cfg, token: token.Token{ID: fmt.Sprint("id", i)}}
		r.add(p)
		r.finish(p, o, at)
		got, f, ok := r.lookup(p.token.ID)
		if got != nil || !ok || f.outcome != o || f.list != p.list.Address || !f.at.Equal(at) || f.late || f.claimed || f.signer != cfg.Signer() {
			t.Errorf("%s: remembered as %+v (%v)", o, f, ok)
		}
	}
	if _, ok := r.markLate("id0", at); ok {
		t.Error("a delivered probe's copy counted late")
	}
	lost := fmt.Sprint("id", 3)
	if f, ok := r.markLate(lost, at.Add(time.Hour)); !ok || f.outcome != Lost || !f.late {
		t.Errorf("a lost probe's late copy not counted: %+v", f)
	}
	if _, ok := r.markLate(lost, at.Add(time.Hour)); ok {
		t.Error("a late copy counted twice")
	}
	if _, f, _ := r.lookup(lost); !f.late {
		t.Error("the late copy's count was not remembered")
	}
	r.claim("earlier", "e@lists.example.org", at, signer)
	if _, f, ok := r.lookup("earlier"); !ok || !f.claimed || f.outcome != Lost || f.signer != signer || !f.at.Equal(at) {
		t.Errorf("claimed probe remembered as %+v", f)
	}
	if _, f, ok := r.lookup("unknown"); ok || f != (finishedProbe{}) {
		t.Errorf("an unknown probe found: %+v", f)
	}
	// Pruned after their retention: lost ones a day, the others an hour.
	p := &pendingProbe{list: &config.ListConfig{Address: "x@lists.example.org"}, cfg: cfg, token: token.Token{ID: "later"}}
	r.add(p)
	r.finish(p, Delivered, at.Add(2*time.Hour))
	if _, _, ok := r.lookup("id0"); ok {
		t.Error("a delivered probe remembered after two hours")
	}
	if _, _, ok := r.lookup(lost); !ok {
		t.Error("a lost probe forgotten after two hours")
	}
}

// BenchmarkRegistryMemory reports the heap a finished probe holds while it
// is remembered (an hour, a day for a lost one).
func BenchmarkRegistryMemory(b *testing.B) {
	const probes = 100000
	cfg := &config.Config{}
	lists := make([]*config.ListConfig, 1000)
	for i := range lists {
		lists[i] = &config.ListConfig{Address: fmt.Sprintf("bench-%05d-deliver@lists.bench.test", i)}
	}
	for b.Loop() {
		r := newRegistry()
		ids := make([]string, probes)
		for i := range ids {
			ids[i] = fmt.Sprintf("lp1.%08d.abcdefghijklmnop", i) // a token id's length
		}
		before := heapInUse()
		now := time.Now()
		for i, id := range ids {
			p := &pendingProbe{list: lists[i%len(lists)], cfg: cfg, token: token.Token{ID: id}}
			r.add(p)
			r.finish(p, Delivered, now)
		}
		ids = nil
		after := heapInUse()
		b.ReportMetric(float64(after-before)/probes, "bytes/finished")
		runtime.KeepAlive(r)
	}
}
