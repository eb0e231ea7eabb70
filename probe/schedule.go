package probe

import (
	"fmt"
	"hash/fnv"
	"log/slog"
	"strings"
	"time"

	"github.com/robfig/cron/v3"

	"github.com/listprobe/listprobe/probe/config"
)

// This file is when probes run: the schedule (cron, with a stable per-list
// jitter, a list's probes never overlapping) and the sharding of lists
// between replicas.

// schedule replaces the schedule with cfg's. Probes the old schedule started
// go on; a list's probes never overlap, across reloads too.
func (s *Service) schedule() {
	cfg := s.Config()
	c := cron.New(cron.WithLogger(cronLogger{s.logger}))
	for _, l := range cfg.Lists {
		jitter := jitterFor(l.Address, l.Interval())
		c.Schedule(l.CronSchedule(), cron.FuncJob(func() { s.scheduled(l.Address, jitter) }))
	}
	s.mu.Lock()
	old := s.cron
	s.cron = c
	s.mu.Unlock()
	if old != nil {
		old.Stop()
	}
	c.Start()
}

// scheduled starts one scheduled probe of a list, unless its previous probe
// is still in flight. It holds no goroutine while the probe waits: a timer
// puts the list in the due queue after its jitter, and one dispatcher hands
// due lists the free slots in turn. At 10,000 lists on a one-minute
// schedule thousands of probes wait for a slot at once; a goroutine each
// cost about 10 KB of stack (issue 18's memory goal).
func (s *Service) scheduled(list string, jitter time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.running[list] || s.ctx.Err() != nil {
		s.logger.Debug("skipping a scheduled probe: the previous one is still in flight", "list", list)
		return
	}
	s.running[list] = true
	s.probes.Add(1)
	if s.due.timers == nil {
		s.due.timers = map[string]*time.Timer{}
		s.due.wake = make(chan struct{}, 1)
		go s.dispatch()
	}
	s.due.timers[list] = time.AfterFunc(jitter, func() { s.enqueue(list) })
}

// dueProbes is the queue of scheduled probes past their jitter (guarded by
// Service.mu).
type dueProbes struct {
	timers map[string]*time.Timer // lists in their jitter
	lists  []string               // lists past it, oldest first
	wake   chan struct{}          // the dispatcher's doorbell
}

// enqueue puts a list whose jitter has passed in the due queue.
func (s *Service) enqueue(list string) {
	s.mu.Lock()
	delete(s.due.timers, list)
	if s.ctx.Err() != nil {
		s.mu.Unlock()
		s.finishScheduled(list)
		return
	}
	s.due.lists = append(s.due.lists, list)
	s.mu.Unlock()
	select {
	case s.due.wake <- struct{}{}:
	default:
	}
}

// dispatch hands the due lists a slot each, oldest first, until the
// service stops; then it ends every probe still in its jitter or queued.
func (s *Service) dispatch() {
	for {
		select {
		case <-s.due.wake:
		case <-s.ctx.Done():
			s.dropDue()
			return
		}
		for list, ok := s.popDue(); ok; list, ok = s.popDue() {
			select {
			case s.slots <- struct{}{}:
			case <-s.ctx.Done():
				s.finishScheduled(list)
				s.dropDue()
				return
			}
			go s.runScheduled(list)
		}
	}
}

func (s *Service) popDue() (string, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.due.lists) == 0 {
		return "", false
	}
	list := s.due.lists[0]
	s.due.lists[0] = ""
	s.due.lists = s.due.lists[1:]
	return list, true
}

// dropDue ends the scheduled probes that had not started when the service
// stopped: queued, or in their jitter (a timer that already fired ends its
// probe in enqueue).
func (s *Service) dropDue() {
	s.mu.Lock()
	drop := s.due.lists
	s.due.lists = nil
	for list, t := range s.due.timers {
		if t.Stop() {
			drop = append(drop, list)
		}
		delete(s.due.timers, list)
	}
	s.mu.Unlock()
	for _, list := range drop {
		s.finishScheduled(list)
	}
}

// runScheduled runs a due list's probe with the slot the dispatcher took
// for it, with the configuration of the moment it starts: a list removed
// by a reload while it waited is not probed.
func (s *Service) runScheduled(list string) {
	defer s.finishScheduled(list)
	cfg := s.Config()
	l := cfg.List(list)
	if l == nil {
		<-s.slots
		return
	}
	s.runWithSlot(cfg, l)
}

func (s *Service) finishScheduled(list string) {
	s.mu.Lock()
	delete(s.running, list)
	s.mu.Unlock()
	s.probes.Done()
}

// jitterFor spreads lists that share a schedule over up to a tenth of its
// interval (at most a minute), the same offset for a list every time, so
// they do not all post in the same second.
func jitterFor(list string, interval time.Duration) time.Duration {
	span := min(interval/10, time.Minute)
	if span <= 0 {
		return 0
	}
	h := fnv.New64a()
	h.Write([]byte(list))
	return time.Duration(h.Sum64() % uint64(span))
}

// shardLists returns the lists that shard index of count probes: each list
// goes to the shard with the highest hash of (list, shard), rendezvous
// hashing, so that changing the count moves only the lists that must move.
func shardLists(lists []*config.ListConfig, index, count int) []*config.ListConfig {
	var out []*config.ListConfig
	for _, l := range lists {
		if shardOf(l.Address, count) == index {
			out = append(out, l)
		}
	}
	return out
}

func shardOf(list string, count int) int {
	best, bestH := 0, uint64(0)
	for i := range count {
		h := fnv.New64a()
		fmt.Fprintf(h, "%s\x00%d", strings.ToLower(list), i)
		if v := mix64(h.Sum64()); i == 0 || v > bestH {
			best, bestH = i, v
		}
	}
	return best
}

// mix64 is SplitMix64's finalizer: FNV alone spreads the weights of
// similar keys too little for rendezvous hashing to be fair.
func mix64(x uint64) uint64 {
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	return x ^ x>>31
}

// cronLogger adapts slog to cron's logger.
type cronLogger struct{ l *slog.Logger }

func (c cronLogger) Info(msg string, kv ...any) { c.l.Debug("cron: "+msg, kv...) }
func (c cronLogger) Error(err error, msg string, kv ...any) {
	c.l.Error("cron: "+msg, append(kv, "err", err)...)
}
