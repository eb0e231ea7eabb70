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

// scheduled runs one scheduled probe of a list, after its jitter, unless its
// previous probe is still in flight.
func (s *Service) scheduled(list string, jitter time.Duration) {
	s.mu.Lock()
	if s.running[list] || s.ctx.Err() != nil {
		s.mu.Unlock()
		s.logger.Debug("skipping a scheduled probe: the previous one is still in flight", "list", list)
		return
	}
	s.running[list] = true
	s.probes.Add(1)
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		delete(s.running, list)
		s.mu.Unlock()
		s.probes.Done()
	}()
	select {
	case <-time.After(jitter):
	case <-s.ctx.Done():
		return
	}
	// The configuration of the moment the probe starts: a list removed
	// by a reload during the jitter is not probed.
	cfg := s.Config()
	l := cfg.List(list)
	if l == nil {
		return
	}
	s.runProbe(cfg, l)
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
