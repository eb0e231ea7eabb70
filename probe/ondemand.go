package probe

import (
	"context"
	"sync"
	"time"
)

// onDemand makes on-demand probes (GET /probe) single-flight and
// rate-limited per list, so that a burst of requests, a scrape loop gone
// wrong or a cross-site <img> tag cannot make listprobe post to a list's
// subscribers more than once per interval.
type onDemand struct {
	mu       sync.Mutex
	inflight map[string]*onDemandCall // by list
	last     map[string]*Result       // the last on-demand result, by list
}

type onDemandCall struct {
	done chan struct{}
	res  *Result
}

// do returns the result of the probe of list in flight, or the last one if
// it finished within minInterval, or starts a new one with probe. The probe
// runs on its own: when ctx ends first, do returns ctx's error and the
// probe still finishes and is recorded.
func (o *onDemand) do(ctx context.Context, list string, minInterval time.Duration, probe func() *Result) (*Result, time.Duration, error) {
	o.mu.Lock()
	if o.inflight == nil {
		o.inflight, o.last = map[string]*onDemandCall{}, map[string]*Result{}
	}
	c := o.inflight[list]
	if c == nil {
		if last := o.last[list]; last != nil && time.Since(last.Started) < minInterval {
			o.mu.Unlock()
			return last, time.Since(last.Finished), nil
		}
		c = &onDemandCall{done: make(chan struct{})}
		o.inflight[list] = c
		go func() {
			res := probe()
			o.mu.Lock()
			c.res = res
			o.last[list] = res
			delete(o.inflight, list)
			o.mu.Unlock()
			close(c.done)
		}()
	}
	o.mu.Unlock()
	select {
	case <-c.done:
		return c.res, 0, nil
	case <-ctx.Done():
		return nil, 0, ctx.Err()
	}
}
