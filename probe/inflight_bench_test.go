package probe

import (
	"fmt"
	"runtime"
	"runtime/metrics"
	"sync"
	"testing"
	"time"

	"github.com/listprobe/listprobe/internal/sandbox"
)

// BenchmarkInFlightMemory posts a probe to each of 400 lists that drop
// their posts, and once every probe awaits its copy, reports the heap and
// the goroutine stacks each holds: on a one-minute schedule with a 30 s
// timeout, 10,000 lists keep about 4,000 probes waiting.
func BenchmarkInFlightMemory(b *testing.B) {
	const n = 400
	var lists []sandbox.List
	for i := range n {
		lists = append(lists, sandbox.List{Address: fmt.Sprintf("bench-%05d-drop@lists.example.org", i), Policy: sandbox.Drop})
	}
	for b.Loop() {
		w := startTestWorld(b, sandbox.Options{Lists: lists})
		svc := startRuntime(b, w.Config(b, 20*time.Second, lists, nil))
		posts := w.Stats().ListPosts
		heap, stacks := heapInUse(), stackBytes()
		var wg sync.WaitGroup
		for _, l := range svc.Config().Lists {
			wg.Go(func() {
				if r := probeList(b, svc, l.Address); r.Outcome != Lost && r.Outcome != Error {
					b.Errorf("%s: %s %s", l.Address, r.Outcome, r.Reason)
				}
			})
		}
		for w.Stats().ListPosts-posts < n || svc.reg.pendingCount() < n {
			time.Sleep(50 * time.Millisecond)
		}
		time.Sleep(200 * time.Millisecond) // every probe in its await stage
		b.ReportMetric((float64(heapInUse())-float64(heap))/n, "heap-bytes/probe")
		b.ReportMetric((float64(stackBytes())-float64(stacks))/n, "stack-bytes/probe")
		svc.Stop() // the waiting probes end now, not at their timeout
		wg.Wait()
	}
}

func stackBytes() uint64 {
	s := []metrics.Sample{{Name: "/memory/classes/heap/stacks:bytes"}}
	runtime.GC()
	metrics.Read(s)
	return s[0].Value.Uint64()
}

func (r *registry) pendingCount() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.pending)
}
