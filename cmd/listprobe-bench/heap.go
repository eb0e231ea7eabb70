package main

import (
	"runtime"
	"runtime/metrics"
	"time"
)

// heapSampler reads, every few seconds of the measured window, the heap
// that was live at the last garbage collection and the goroutines: the
// peak RSS is about the live heap's peak plus the collector's headroom.
type heapSampler struct {
	stop, done    chan struct{}
	maxLive       uint64
	maxGoroutines uint64
}

// startSampling starts the scrapes and the heap sampler over the measured
// window; the function it returns stops both and records the heap's figures.
func (fig *figures) startSampling(scrapes *scraper, every time.Duration) func() {
	stopScrapes := scrapes.start(every)
	heap := startHeapSampler(2 * time.Second)
	return func() {
		stopScrapes()
		fig.PeakLiveHeapMiB, fig.PeakGoroutines = heap.Stop()
	}
}

func startHeapSampler(every time.Duration) *heapSampler {
	h := &heapSampler{stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(h.done)
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			live, goroutines := liveHeap()
			h.maxLive, h.maxGoroutines = max(h.maxLive, live), max(h.maxGoroutines, goroutines)
			select {
			case <-h.stop:
				return
			case <-t.C:
			}
		}
	}()
	return h
}

// Stop ends the sampling and returns the most live heap, in MiB, and the
// most goroutines seen.
func (h *heapSampler) Stop() (float64, int) {
	close(h.stop)
	<-h.done
	return float64(h.maxLive) / (1 << 20), int(h.maxGoroutines)
}

// liveHeap returns the heap live at the last collection, in bytes, and the
// goroutines now.
func liveHeap() (uint64, uint64) {
	s := []metrics.Sample{{Name: "/gc/heap/live:bytes"}, {Name: "/sched/goroutines:goroutines"}}
	metrics.Read(s)
	var out [2]uint64
	for i := range s {
		if s[i].Value.Kind() == metrics.KindUint64 {
			out[i] = s[i].Value.Uint64()
		}
	}
	return out[0], out[1]
}

// liveHeapNowMiB collects, then returns the live heap in MiB.
func liveHeapNowMiB() float64 {
	runtime.GC()
	live, _ := liveHeap()
	return float64(live) / (1 << 20)
}
