package probe

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/robfig/cron/v3"
)

// Service runs every list's probe on its schedule and reloads its
// configuration on request. All reloads go through Run's goroutine.
type Service struct {
	file    string
	logger  *slog.Logger
	metrics *Metrics
	history *History

	mu   sync.Mutex
	rt   *Runtime
	cron *cron.Cron

	reloads chan chan error
	ready   atomic.Bool
	started time.Time
}

// NewService returns a service for the config file; Run starts it.
func NewService(file string, logger *slog.Logger) *Service {
	return &Service{
		file:    file,
		logger:  logger,
		metrics: NewMetrics(),
		history: NewHistory(10, 50),
		reloads: make(chan chan error),
		started: time.Now(),
	}
}

// Metrics returns the service's metrics.
func (s *Service) Metrics() *Metrics { return s.metrics }

// History returns the service's recent results.
func (s *Service) History() *History { return s.history }

// Runtime returns the runtime of the current configuration, nil before Run
// loaded it.
func (s *Service) Runtime() *Runtime {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.rt
}

// Ready reports whether a configuration is loaded and scheduled.
func (s *Service) Ready() bool { return s.ready.Load() }

// Run loads the configuration, starts the schedule and serves reload
// requests until ctx ends. It returns an error only when the first load
// fails.
func (s *Service) Run(ctx context.Context) error {
	cfg, err := LoadFile(s.file)
	if err != nil {
		s.metrics.Reloaded(false)
		return err
	}
	s.apply(ctx, cfg)
	s.metrics.Reloaded(true)
	s.ready.Store(true)
	for {
		select {
		case <-ctx.Done():
			s.ready.Store(false)
			s.mu.Lock()
			rt, c := s.rt, s.cron
			s.mu.Unlock()
			s.retire(rt, c)
			return nil
		case reply := <-s.reloads:
			err := s.reload(ctx)
			reply <- err
		}
	}
}

// Reload asks Run to reload the configuration file and waits for the result.
// On failure the running configuration stays.
func (s *Service) Reload(ctx context.Context) error {
	reply := make(chan error, 1)
	select {
	case s.reloads <- reply:
	case <-ctx.Done():
		return ctx.Err()
	}
	select {
	case err := <-reply:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (s *Service) reload(ctx context.Context) error {
	cfg, err := LoadFile(s.file)
	if err != nil {
		s.metrics.Reloaded(false)
		s.logger.Error("config reload failed, keeping the running config", "file", s.file, "err", err)
		return err
	}
	s.mu.Lock()
	old, oldCron := s.rt, s.cron
	s.mu.Unlock()
	s.apply(ctx, cfg)
	s.metrics.Reloaded(true)
	s.logger.Info("config reloaded", "file", s.file, "lists", len(cfg.Lists))
	// Probes in flight finish with the old config's sessions.
	go s.retire(old, oldCron)
	return nil
}

// apply starts a runtime and a schedule for cfg and makes them current.
func (s *Service) apply(ctx context.Context, cfg *Config) {
	s.metrics.Configure(cfg)
	rt := NewRuntime(cfg, s.metrics, s.history, s.logger)
	s.mu.Lock()
	rt.AdoptFinished(s.rt)
	s.mu.Unlock()
	rt.Start(context.WithoutCancel(ctx))
	c := cron.New(cron.WithLogger(cronLogger{s.logger}))
	for _, l := range cfg.Lists {
		jitter := jitterFor(l.Address, minInterval(l.CronSchedule()))
		job := cron.FuncJob(func() {
			select {
			case <-time.After(jitter):
			case <-ctx.Done():
				return
			}
			rt.Probe(ctx, l)
		})
		// A list's probe never overlaps its previous one.
		c.Schedule(l.CronSchedule(), cron.NewChain(cron.SkipIfStillRunning(cronLogger{s.logger})).Then(job))
	}
	c.Start()
	s.mu.Lock()
	s.rt, s.cron = rt, c
	s.mu.Unlock()
	s.logger.Info("config loaded", "file", cfg.File, "lists", len(cfg.Lists), "accounts", len(cfg.Accounts))
}

// retire stops a schedule, waits for its probes in flight, then ends the
// runtime's sessions.
func (s *Service) retire(rt *Runtime, c *cron.Cron) {
	if c != nil {
		<-c.Stop().Done()
	}
	if rt != nil {
		rt.Stop()
	}
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

// ProbeNow runs one probe of list now with the current configuration.
func (s *Service) ProbeNow(ctx context.Context, list string) (*Result, error) {
	rt := s.Runtime()
	if rt == nil {
		return nil, errors.New("no configuration loaded yet")
	}
	l := rt.List(list)
	if l == nil {
		return nil, fmt.Errorf("list %q is not configured", list)
	}
	return rt.Probe(ctx, l), nil
}

// cronLogger adapts slog to cron's logger.
type cronLogger struct{ l *slog.Logger }

func (c cronLogger) Info(msg string, kv ...any) { c.l.Debug("cron: "+msg, kv...) }
func (c cronLogger) Error(err error, msg string, kv ...any) {
	c.l.Error("cron: "+msg, append(kv, "err", err)...)
}
