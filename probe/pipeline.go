package probe

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/listprobe/listprobe/checks/mailmanrest"
	"github.com/listprobe/listprobe/probe/config"
)

// Reading Mailman's pipeline.
const (
	// queueSnapshotFresh is how old a read of the queues may be for a
	// probe's diagnosis: probes that end together share one read.
	queueSnapshotFresh = 5 * time.Second
	// queueClockSlack is how much earlier than the probe's sending an
	// entry may be stamped and still be looked at: the Mailman host's clock
	// may be a little behind listprobe's.
	queueClockSlack = 5 * time.Second
	// queueFileReads bounds the queue files one lost probe reads (with
	// queue_dir).
	queueFileReads = 20
	// diagnoseTimeout bounds the REST read a lost probe makes.
	diagnoseTimeout = 10 * time.Second
)

// postQueues are the queues a post passes through or ends in, in the order
// a lost probe's post is looked for: where Mailman gave up on it first,
// then where it may be waiting. The archive, digest and virgin queues hold
// copies or Mailman's own messages, not the post on its way to members.
var postQueues = []string{"shunt", "bad", "retry", "out", "pipeline", "in"}

// pipeline reads a Mailman server's queues (one request for all of them),
// and, every RosterRefresh, each list's bounce-disabled members and digest.
type pipeline struct {
	server  string
	cfg     config.MailmanPipeline
	client  *mailmanrest.Client
	metrics *Metrics
	logger  *slog.Logger

	mu       sync.Mutex
	snap     queueSnapshot
	rosterAt map[string]time.Time // list -> when its roster and digest were last read
}

// queueSnapshot is one read of the server's queues.
type queueSnapshot struct {
	at     time.Time
	queues []mailmanrest.Queue
}

func newPipeline(server string, cfg config.MailmanPipeline, client *mailmanrest.Client, metrics *Metrics, logger *slog.Logger) *pipeline {
	return &pipeline{server: server, cfg: cfg, client: client, metrics: metrics, logger: logger, rosterAt: map[string]time.Time{}}
}

// readQueues reads every queue and records the metrics.
func (p *pipeline) readQueues(ctx context.Context) (queueSnapshot, error) {
	qs, err := p.client.Queues(ctx)
	now := time.Now()
	p.metrics.MailmanQueues(p.server, qs, err == nil, p.cfg.SliceCount, now)
	if err != nil {
		return queueSnapshot{}, err
	}
	s := queueSnapshot{at: now, queues: qs}
	p.mu.Lock()
	p.snap = s
	p.mu.Unlock()
	return s, nil
}

// fresh returns a read of the queues no older than queueSnapshotFresh.
func (p *pipeline) fresh(ctx context.Context) (queueSnapshot, error) {
	p.mu.Lock()
	s := p.snap
	p.mu.Unlock()
	if !s.at.IsZero() && time.Since(s.at) < queueSnapshotFresh {
		return s, nil
	}
	return p.readQueues(ctx)
}

// refresh is one round: the queues, then the lists whose roster and digest
// are due.
func (p *pipeline) refresh(ctx context.Context, lists []string) {
	if _, err := p.readQueues(ctx); err != nil && ctx.Err() == nil {
		p.logger.Warn("reading Mailman's queues failed", "err", err)
	}
	for _, l := range lists {
		p.mu.Lock()
		due := time.Since(p.rosterAt[l]) >= time.Duration(p.cfg.RosterRefresh)
		p.mu.Unlock()
		if !due || ctx.Err() != nil {
			continue
		}
		if err := p.readRoster(ctx, l); err != nil {
			if ctx.Err() == nil {
				p.logger.Warn("reading the list's bounce-disabled members and digest failed", "list", l, "err", err)
			}
			continue
		}
		p.mu.Lock()
		p.rosterAt[l] = time.Now()
		p.mu.Unlock()
	}
}

// readRoster reads one list's bounce-disabled count and digest settings:
// three requests, whatever the size of its roster.
func (p *pipeline) readRoster(ctx context.Context, list string) error {
	rctx, cancel := context.WithTimeout(ctx, restTimeout)
	defer cancel()
	disabled, members, err := p.client.BounceDisabled(rctx, list)
	if err != nil {
		return err
	}
	d, err := p.client.ListDigest(rctx, list)
	if err != nil {
		return err
	}
	p.metrics.MailmanRoster(list, disabled, members)
	p.metrics.MailmanDigest(list, d, time.Duration(p.cfg.DigestInterval))
	return nil
}

// forget drops the roster times of lists the server no longer has.
func (p *pipeline) forget(lists map[string]listMembers) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for l := range p.rosterAt {
		if _, ok := lists[l]; !ok {
			delete(p.rosterAt, l)
		}
	}
}

// explainLost puts where Mailman has a lost probe's post in front of its
// reason (alerts quote the reason's start); when no queue holds it, what
// was looked at comes after.
func (p *pipeline) explainLost(ctx context.Context, reason, messageID string, sentAt time.Time) string {
	cause, found := p.lostCause(ctx, messageID, sentAt)
	if found {
		return cause + "; " + reason
	}
	return reason + "; " + cause
}

// lostCause looks for a lost probe's post in Mailman's queues and says
// where it is, or "" when it cannot tell. It reads the queues once (or
// reuses a read of the last seconds) and, with queue_dir, at most
// queueFileReads of the entries the listing names. found is whether a
// queue holds the post (or, without queue_dir, probably does).
func (p *pipeline) lostCause(ctx context.Context, messageID string, sentAt time.Time) (cause string, found bool) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), diagnoseTimeout)
	defer cancel()
	s, err := p.fresh(ctx)
	if err != nil {
		return "Mailman's queues could not be read: " + readable(err.Error()), false
	}
	var has func(queue string, f mailmanrest.QueueFile) (bool, error)
	if p.cfg.QueueDir != "" {
		has = func(queue string, f mailmanrest.QueueFile) (bool, error) {
			return mailmanrest.QueueFileHas(p.cfg.QueueDir, queue, f, messageID)
		}
	}
	d := diagnoseQueues(s, sentAt, has, p.cfg.SliceCount)
	if d.err != nil {
		p.logger.Warn("reading Mailman queue files failed", "queue_dir", p.cfg.QueueDir, "err", d.err)
	}
	return d.reason, d.found
}

// diagnosis is what diagnoseQueues found.
type diagnosis struct {
	reason string
	found  bool  // a queue holds the post, or probably does
	err    error // a queue file that could not be read (the reason still says what is known)
}

// diagnoseQueues decides where a lost probe's post is, from one read of
// the queues: a pure function but for has, which reads a queue file (nil:
// queue files cannot be read, and an entry that arrived after the probe
// was sent is named as probably the probe's).
func diagnoseQueues(s queueSnapshot, sentAt time.Time, has func(string, mailmanrest.QueueFile) (bool, error), slices func(string) int) diagnosis {
	byName := map[string]mailmanrest.Queue{}
	for _, q := range s.queues {
		byName[q.Name] = q
	}
	reads := 0
	var firstErr error
	var guess *queueHit
	for _, name := range postQueues {
		files := byName[name].Files
		// Newest first: the probe's post is among the entries stamped
		// after it was sent, and those are at the end.
		for i := len(files) - 1; i >= 0; i-- {
			f := files[i]
			if f.Received.Before(sentAt.Add(-queueClockSlack)) {
				break
			}
			hit := queueHit{queue: name, file: f, slice: f.Slice(slices(name)), slices: slices(name), age: ageOf(s.at, f.Received), after: f.Received.Sub(sentAt)}
			if has == nil {
				if guess == nil {
					guess = &hit
				}
				continue
			}
			if reads >= queueFileReads {
				break
			}
			reads++
			ok, err := has(name, f)
			if err != nil && !errors.Is(err, mailmanrest.ErrQueueFileGone) && firstErr == nil {
				firstErr = err
			}
			if ok {
				hit.proven = true
				return diagnosis{reason: hit.reason(), found: true, err: firstErr}
			}
		}
	}
	switch {
	case guess != nil:
		return diagnosis{reason: guess.reason(), found: true}
	case has != nil:
		return diagnosis{reason: fmt.Sprintf("the post is in none of Mailman's %s queues (%d entries read): Mailman passed it on to the MTA, dropped it, or never received it", joinNames(postQueues), reads), err: firstErr}
	}
	return diagnosis{reason: fmt.Sprintf("no post that arrived after the probe was sent waits in Mailman's %s queues: Mailman passed it on to the MTA, dropped it, or never received it", joinNames(postQueues))}
}

// queueHit is a queue entry that is (proven) or may be (not proven) the
// probe's post.
type queueHit struct {
	queue         string
	file          mailmanrest.QueueFile
	proven        bool
	slice, slices int
	age           time.Duration // how long it has been in the queue
	after         time.Duration // how long after the probe was sent it entered the queue
}

// reason is the sentence for a lost probe; the entry's name lets the
// operator find it (mailman qfile, the REST /queues/<name> listing).
func (h queueHit) reason() string {
	entry := fmt.Sprintf("%s queue entry %s", h.queue, h.file.Name)
	if h.slices > 1 {
		entry += fmt.Sprintf(", runner slice %d of %d", h.slice, h.slices)
	}
	var s string
	switch h.queue {
	case "shunt":
		s = fmt.Sprintf("Mailman shunted the post (see %s)", entry)
	case "bad":
		s = fmt.Sprintf("Mailman gave up on the post as bad (see %s)", entry)
	case "retry":
		s = fmt.Sprintf("Mailman could not hand the post to the MTA and is retrying it, for %s now (see %s)", h.age, entry)
	case "in", "pipeline":
		s = fmt.Sprintf("not yet out of the pipeline: waiting in the %s queue for %s (see %s)", h.queue, h.age, entry)
	default:
		s = fmt.Sprintf("stuck in the %s queue for %s (see %s)", h.queue, h.age, entry)
	}
	if !h.proven {
		s = fmt.Sprintf("probably: %s; it entered the queue %s after the probe was sent (set queue_dir for listprobe to read the entry and be sure)", s, h.after.Round(time.Millisecond))
	}
	return s
}

// ageOf rounds a queue age for a sentence.
func ageOf(now, t time.Time) time.Duration {
	d := now.Sub(t)
	if d < 0 {
		return 0
	}
	if d >= time.Minute {
		return d.Round(time.Second)
	}
	return d.Round(100 * time.Millisecond)
}

func joinNames(names []string) string {
	s := ""
	for i, n := range names {
		switch {
		case i == 0:
		case i == len(names)-1:
			s += " and "
		default:
			s += ", "
		}
		s += n
	}
	return s
}
