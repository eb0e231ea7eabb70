package probe

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/emersion/go-sasl"

	"github.com/listprobe/listprobe/checks"
)

// Runtime is one loaded configuration at work: a long-lived IMAP session per
// account that serves every pending probe, the probes in flight, and the
// Mailman REST clients.
type Runtime struct {
	cfg     *Config
	metrics *Metrics
	history *History
	logger  *slog.Logger

	mailboxes map[string]*watchedMailbox // by account name
	mailman   map[string]*checks.Mailman // by mailman server name

	mu       sync.Mutex
	pending  map[string]*pendingProbe // by token id
	finished *finishedProbes          // recently finished, for late copies; shared across reloads
	limits   map[string]time.Time     // list -> when the poster was told "no more notices today"

	loaded time.Time

	cancel context.CancelFunc
	wg     sync.WaitGroup
}

type finishedProbe struct {
	list    string
	outcome Outcome
	at      time.Time
	late    bool // its late copy was counted: a copy seen again (after a UIDVALIDITY change) is not counted twice
}

// finishedRetention is how long a finished probe is remembered, so that a copy
// arriving after its timeout is counted as late rather than ignored.
const finishedRetention = 24 * time.Hour

// finishedProbes remembers the probes this process finished, by token id. A
// reload hands it to the new runtime, so that a late copy of a probe sent
// before the reload is still counted, and still cleaned up.
type finishedProbes struct {
	mu        sync.Mutex
	m         map[string]finishedProbe
	lastPrune time.Time
}

func newFinishedProbes() *finishedProbes {
	return &finishedProbes{m: map[string]finishedProbe{}}
}

func (f *finishedProbes) get(id string) (finishedProbe, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	p, ok := f.m[id]
	return p, ok
}

// markLate reports whether the probe's late copy is to be counted now: the
// probe is known, was not delivered in time, and its late copy was not
// counted before (a copy reported again after a UIDVALIDITY change).
func (f *finishedProbes) markLate(id string) (finishedProbe, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	p, ok := f.m[id]
	if !ok || p.late || p.outcome == Delivered {
		return p, false
	}
	p.late = true
	f.m[id] = p
	return p, true
}

func (f *finishedProbes) add(id string, p finishedProbe) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.m[id] = p
	if p.at.Sub(f.lastPrune) < time.Minute {
		return
	}
	f.lastPrune = p.at
	for id, old := range f.m {
		if p.at.Sub(old.at) > finishedRetention {
			delete(f.m, id)
		}
	}
}

// AdoptFinished makes rt remember the probes that prev finished: used when a
// reload replaces prev by rt.
func (rt *Runtime) AdoptFinished(prev *Runtime) {
	if prev != nil {
		rt.finished = prev.finished
	}
}

// NewRuntime prepares a runtime for cfg; Start starts it.
func NewRuntime(cfg *Config, metrics *Metrics, history *History, logger *slog.Logger) *Runtime {
	rt := &Runtime{
		cfg:       cfg,
		metrics:   metrics,
		history:   history,
		logger:    logger,
		mailboxes: map[string]*watchedMailbox{},
		mailman:   map[string]*checks.Mailman{},
		pending:   map[string]*pendingProbe{},
		finished:  newFinishedProbes(),
		limits:    map[string]time.Time{},
		loaded:    time.Now(),
	}
	for name, a := range cfg.Accounts {
		if a.IMAP == nil {
			continue
		}
		wm := &watchedMailbox{account: a, changed: make(chan struct{})}
		wm.box = checks.NewMailbox(checks.MailboxOptions{
			Address:      a.IMAP.Address,
			TLS:          a.IMAP.TLS,
			TLSConfig:    a.IMAP.TLSConfig(),
			Username:     a.IMAP.Username,
			Password:     a.IMAP.Password(),
			Mailbox:      a.IMAP.Mailbox,
			PollInterval: time.Duration(cfg.Global.PollInterval),
			WantBody:     checks.LooksLikeNotice,
			OnState: func(up bool, err error) {
				wm.setState(up, err)
				metrics.MailboxUp(name, up)
				if up {
					logger.Info("mailbox session up", "account", name, "imap", a.IMAP.Address)
				} else if err != nil {
					logger.Warn("mailbox session down", "account", name, "imap", a.IMAP.Address, "err", err)
				}
			},
			Logger: logger.With("account", name),
		})
		rt.mailboxes[name] = wm
	}
	for name, m := range cfg.Mailman {
		rt.mailman[name] = checks.NewMailman(checks.MailmanOptions{
			URL:      m.URL,
			Username: m.Username,
			Password: m.Password(),
			Client:   &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{TLSClientConfig: m.TLSConfig()}},
		})
	}
	return rt
}

// Config returns the runtime's configuration.
func (rt *Runtime) Config() *Config { return rt.cfg }

// Start starts the mailbox sessions, the dispatchers that route what they
// see to pending probes, and the Mailman readers. They run until Stop.
func (rt *Runtime) Start(ctx context.Context) {
	ctx, rt.cancel = context.WithCancel(ctx)
	for _, wm := range rt.mailboxes {
		msgs, unsubscribe := wm.box.Subscribe()
		rt.wg.Add(2)
		go func() {
			defer rt.wg.Done()
			wm.box.Run(ctx)
		}()
		go func() {
			defer rt.wg.Done()
			defer unsubscribe()
			for {
				select {
				case <-ctx.Done():
					return
				case msg, ok := <-msgs:
					if !ok {
						return
					}
					rt.dispatch(ctx, wm, msg)
				}
			}
		}()
	}
	for _, l := range rt.cfg.Lists {
		if l.Mailman == "" {
			continue
		}
		rt.wg.Add(1)
		go func() {
			defer rt.wg.Done()
			rt.watchModeration(ctx, l)
		}()
	}
}

// Stop ends the sessions and waits for them.
func (rt *Runtime) Stop() {
	if rt.cancel != nil {
		rt.cancel()
	}
	rt.wg.Wait()
}

// watchedMailbox is a Mailbox with its session state, so that a probe can
// wait for its reader's session to come up.
type watchedMailbox struct {
	account *AccountConfig
	box     *checks.Mailbox

	mu      sync.Mutex
	up      bool
	err     error
	changed chan struct{} // closed and replaced at every change
}

func (wm *watchedMailbox) setState(up bool, err error) {
	wm.mu.Lock()
	defer wm.mu.Unlock()
	wm.up, wm.err = up, err
	close(wm.changed)
	wm.changed = make(chan struct{})
}

func (wm *watchedMailbox) state() (bool, <-chan struct{}, error) {
	wm.mu.Lock()
	defer wm.mu.Unlock()
	return wm.up, wm.changed, wm.err
}

// waitUp waits until the session is up or ctx ends.
func (wm *watchedMailbox) waitUp(ctx context.Context) error {
	for {
		up, changed, err := wm.state()
		if up {
			return nil
		}
		select {
		case <-ctx.Done():
			if err == nil {
				err = errors.New("no session yet")
			}
			return fmt.Errorf("%s mailbox %s at %s is unreachable: %w", wm.account.name, wm.account.Address, wm.account.IMAP.Address, err)
		case <-changed:
		}
	}
}

// evidence is one thing seen about a pending probe.
type evidence struct {
	kind    checks.Kind
	manager string
	reason  string
	account string // the mailbox it was seen in; "" for Mailman REST
	seenAt  time.Time
	uid     uint32
	uidv    uint32
	// deletable: every probe the message names is this process's.
	deletable bool
}

type pendingProbe struct {
	list     *ListConfig
	evidence chan evidence
}

func (rt *Runtime) dispatch(ctx context.Context, wm *watchedMailbox, msg checks.Message) {
	account := wm.account.name
	ev := checks.Classify(msg.Header, msg.Body)
	if ev.Kind == checks.KindNoticeLimit {
		rt.noticeLimit(account, ev, msg.SeenAt)
	}
	if ev.Kind == checks.KindUnrelated || len(ev.Tokens) == 0 {
		return
	}
	var tokens []checks.Token
	for _, s := range ev.Tokens {
		t, err := rt.cfg.signer.Verify(s)
		switch {
		case errors.Is(err, checks.ErrForged):
			rt.metrics.Forged(account)
			rt.logger.Warn("message with a forged probe token", "account", account, "uid", msg.UID, "kind", ev.Kind, "message_id", msg.Header.Get("Message-Id"))
			return
		case err != nil:
			return
		}
		tokens = append(tokens, t)
	}
	// Every token verified: the message is about our own probes. It may be
	// deleted only if every probe it names is this process's.
	foreign := false
	for _, t := range tokens {
		rt.mu.Lock()
		_, pending := rt.pending[t.ID]
		rt.mu.Unlock()
		_, finished := rt.finished.get(t.ID)
		foreign = foreign || (!pending && !finished)
	}
	var cleanupNow bool
	for _, t := range tokens {
		e := evidence{kind: ev.Kind, manager: ev.Manager, reason: ev.Reason, account: account, seenAt: msg.SeenAt, uid: msg.UID, uidv: msg.UIDValidity, deletable: !foreign}
		rt.mu.Lock()
		p := rt.pending[t.ID]
		rt.mu.Unlock()
		fin, wasFinished := rt.finished.get(t.ID)
		countLate := false
		if wasFinished && ev.Kind == checks.KindProbeCopy && rt.isReaderOf(account, fin.list) {
			fin, countLate = rt.finished.markLate(t.ID)
		}
		switch {
		case p != nil:
			select {
			case p.evidence <- e:
			default:
				rt.logger.Warn("dropped evidence for a busy probe", "list", t.List, "kind", ev.Kind)
			}
		case wasFinished:
			cleanupNow = true
			if countLate {
				rt.metrics.LateDelivery(fin.list)
				rt.history.LateDelivery(fin.list, t.ID, msg.SeenAt)
				rt.logger.Warn("late delivery", "list", fin.list, "recorded_outcome", fin.outcome, "late_by", msg.SeenAt.Sub(fin.at).Round(time.Millisecond))
			}
		default:
			// Signed with our key but not sent by this process: an earlier
			// run, or another listprobe (a `once` beside `serve`) whose
			// copy must not vanish before it sees it. Left alone.
			rt.logger.Debug("probe of another process or an earlier run", "account", account, "list", t.List, "kind", ev.Kind, "uid", msg.UID)
		}
	}
	if cleanupNow && !foreign && wm.account.Cleanup {
		rt.deleteMessages(ctx, wm, msg.UIDValidity, msg.UID)
	}
}

func (rt *Runtime) isReaderOf(account, list string) bool {
	for _, l := range rt.cfg.Lists {
		if l.Address == list && l.Reader == account {
			return true
		}
	}
	return false
}

func (rt *Runtime) noticeLimit(account string, ev checks.Evidence, at time.Time) {
	for _, l := range rt.cfg.Lists {
		if l.Poster != account || (ev.List != "" && !strings.EqualFold(ev.List, l.Address)) {
			continue
		}
		rt.mu.Lock()
		rt.limits[l.Address] = at
		rt.mu.Unlock()
		rt.metrics.NoticeLimit(l.Address, at)
		rt.logger.Warn("list server sends the poster no more notices today: holds will be silent until tomorrow", "list", l.Address, "account", account)
	}
}

// NoticeLimit returns when the list server last said it sends the list's
// poster no more notices today.
func (rt *Runtime) NoticeLimit(list string) time.Time {
	rt.mu.Lock()
	defer rt.mu.Unlock()
	return rt.limits[list]
}

func (rt *Runtime) deleteMessages(ctx context.Context, wm *watchedMailbox, uidv uint32, uids ...uint32) {
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	if err := wm.box.Delete(ctx, uidv, uids...); err != nil {
		rt.logger.Warn("cleanup failed", "account", wm.account.name, "uids", uids, "err", err)
	}
}

// List returns the configured list with this address, or nil.
func (rt *Runtime) List(address string) *ListConfig {
	for _, l := range rt.cfg.Lists {
		if strings.EqualFold(l.Address, address) {
			return l
		}
	}
	return nil
}

// Probe posts one probe to the list, waits for its outcome, records it in the
// metrics and the history, and returns it.
func (rt *Runtime) Probe(ctx context.Context, l *ListConfig) *Result {
	start := time.Now()
	var buf logBuffer
	logger := slog.New(teeHandler{rt.logger.Handler(), slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug})}).With("list", l.Address)

	signer := rt.cfg.signer
	tok := signer.NewToken(l.Address, start)
	poster := rt.cfg.Accounts[l.Poster]
	msg := checks.ProbeMessage{From: poster.Address, List: l.Address, Token: signer.Encode(tok), Date: start}
	res := &Result{ID: tok.ID, List: l.Address, Expected: l.Expect, MessageID: msg.MessageID(), SentAt: start.UTC().Truncate(time.Second), Token: msg.Token, Started: start}

	p := &pendingProbe{list: l, evidence: make(chan evidence, 16)}
	rt.mu.Lock()
	rt.pending[tok.ID] = p
	rt.mu.Unlock()

	timeout := l.EffectiveTimeout(rt.cfg.Global)
	ctx, cancel := context.WithDeadline(ctx, start.Add(timeout))
	defer cancel()
	var cleanup []evidence
	rt.decide(ctx, logger, l, poster, msg, res, p, &cleanup)

	res.Finished = time.Now()
	res.OK = res.Outcome == res.Expected
	// Known as finished before it stops being pending, so that a copy
	// arriving in between is never taken for another process's.
	rt.finished.add(tok.ID, finishedProbe{list: l.Address, outcome: res.Outcome, at: res.Finished})
	rt.mu.Lock()
	delete(rt.pending, tok.ID)
	rt.mu.Unlock()

	latency := ""
	if res.Latency != nil {
		latency = fmt.Sprintf("%.3fs", *res.Latency)
	}
	level := slog.LevelInfo
	if !res.OK {
		level = slog.LevelWarn
	}
	logger.Log(context.Background(), level, "probe finished", "outcome", res.Outcome, "expected", res.Expected, "reason", res.Reason, "latency", latency, "message_id", res.MessageID)
	res.Log = buf.String()
	rt.metrics.Record(res)
	rt.history.Add(res)

	rt.cleanupEvidence(logger, l, msg.MessageID(), cleanup)
	if res.Outcome == Held {
		rt.discardHeld(logger, l, msg.MessageID())
	}
	return res
}

// decide sends the probe and waits for the evidence that decides its outcome.
func (rt *Runtime) decide(ctx context.Context, logger *slog.Logger, l *ListConfig, poster *AccountConfig, msg checks.ProbeMessage, res *Result, p *pendingProbe, cleanup *[]evidence) {
	reader := rt.mailboxes[l.Reader]
	// A probe that nobody could read back would say nothing about the list:
	// do not post it.
	upCtx, upCancel := context.WithTimeout(ctx, min(30*time.Second, time.Until(res.Started.Add(l.EffectiveTimeout(rt.cfg.Global)))))
	err := reader.waitUp(upCtx)
	upCancel()
	if err != nil {
		res.Outcome, res.Reason, res.Evidence = Error, err.Error(), "reader mailbox"
		return
	}
	// The poster's and moderator's sessions report only mail that arrives
	// while they watch: a notice that came before they were up would be
	// missed. Wait for them too, but not for long: they are optional
	// evidence.
	for _, name := range []string{l.Poster, l.Moderator} {
		wm := rt.mailboxes[name]
		if wm == nil || name == l.Reader {
			continue
		}
		upCtx, upCancel := context.WithTimeout(ctx, min(10*time.Second, l.EffectiveTimeout(rt.cfg.Global)/4))
		if err := wm.waitUp(upCtx); err != nil {
			logger.Warn("posting although a notice mailbox is down: holds and bounces sent there will not be seen", "err", err)
		}
		upCancel()
	}

	var dkimOpts *checks.DKIMOptions
	if poster.DKIM != nil {
		dkimOpts = &checks.DKIMOptions{Domain: poster.DKIM.Domain, Selector: poster.DKIM.Selector, Key: poster.dkimKey}
	}
	raw, err := checks.Compose(msg, dkimOpts)
	if err != nil {
		res.Outcome, res.Reason, res.Evidence = SendFailed, err.Error(), "compose"
		return
	}
	logger.Debug("posting probe", "smtp", poster.SMTP.Address, "message_id", res.MessageID)
	sub, err := checks.Submit(ctx, submitOptions(poster), poster.Address, []string{l.Address}, raw)
	if err != nil {
		var se *checks.SubmitError
		if errors.As(err, &se) {
			res.SubmitReply = se.Message
			if se.Permanent {
				res.Outcome, res.Reason, res.Evidence = Rejected, smtpReply(se), "SMTP reply to "+strings.ToUpper(se.Stage)
				return
			}
		}
		res.Outcome, res.Reason, res.Evidence = SendFailed, err.Error(), "SMTP submission"
		return
	}
	res.SubmitReply, res.SubmitDuration = sub.Reply, sub.Duration
	logger.Debug("probe accepted", "reply", sub.Reply, "submit_duration", sub.Duration)

	var heldTick <-chan time.Time
	var mm *checks.Mailman
	if l.Mailman != "" {
		mm = rt.mailman[l.Mailman]
		t := time.NewTicker(2 * time.Second)
		defer t.Stop()
		heldTick = t.C
	}
	for {
		select {
		case e := <-p.evidence:
			logger.Debug("evidence", "kind", e.kind, "manager", e.manager, "account", e.account, "uid", e.uid, "reason", e.reason, "seen_at", e.seenAt.UTC().Format(time.RFC3339Nano))
			if e.deletable && rt.cfg.Accounts[e.account].Cleanup {
				*cleanup = append(*cleanup, e)
			}
			switch e.kind {
			case checks.KindProbeCopy:
				if e.account != l.Reader {
					logger.Debug("probe copy in a mailbox that is not the reader's", "account", e.account)
					continue
				}
				lat := max(e.seenAt.Sub(sub.AcceptedAt), 0).Seconds()
				res.Outcome, res.Latency = Delivered, &lat
				res.Reason = fmt.Sprintf("copy seen in %s's mailbox %.3fs after SMTP accepted the post", e.account, lat)
				res.Evidence = "list copy in reader mailbox"
				return
			case checks.KindHoldNotice, checks.KindModeratorNotice:
				res.Outcome, res.Reason = Held, e.reason
				res.Evidence = fmt.Sprintf("%s %s in %s's mailbox", e.manager, strings.ReplaceAll(string(e.kind), "_", " "), e.account)
				return
			case checks.KindRejection, checks.KindBounce:
				res.Outcome, res.Reason = Rejected, e.reason
				res.Evidence = fmt.Sprintf("%s %s in %s's mailbox", e.manager, e.kind, e.account)
				return
			}
		case <-heldTick:
			held, err := mm.Held(ctx, l.Address)
			if err != nil {
				logger.Debug("mailman held queue", "err", err)
				continue
			}
			for _, h := range held {
				if sameMessageID(h.MessageID, res.MessageID) {
					logger.Debug("evidence", "kind", "mailman_rest_held", "request_id", h.RequestID, "reason", h.Reason, "rule_hits", strings.Join(h.RuleHits, ","), "hold_date", h.HoldDate)
					res.Outcome, res.Reason = Held, h.Reason
					res.Evidence = fmt.Sprintf("Mailman REST held queue, request %d", h.RequestID)
					return
				}
			}
		case <-ctx.Done():
			if up, _, err := reader.state(); !up {
				res.Outcome, res.Evidence = Error, "reader mailbox"
				res.Reason = fmt.Sprintf("reader mailbox %s was unreachable at the deadline: %v", reader.account.Address, err)
				return
			}
			if errors.Is(ctx.Err(), context.Canceled) {
				res.Outcome, res.Reason, res.Evidence = Error, "probe cancelled before an outcome", ""
				return
			}
			res.Outcome = Lost
			res.Reason = fmt.Sprintf("no copy and no evidence within %s", l.EffectiveTimeout(rt.cfg.Global))
			for _, name := range []string{l.Poster, l.Moderator} {
				if wm := rt.mailboxes[name]; wm != nil && name != l.Reader {
					if up, _, err := wm.state(); !up {
						res.Reason += fmt.Sprintf("; note: %s's mailbox was unreachable (%v), so notices sent there could not be seen", name, err)
					}
				}
			}
			if at := rt.NoticeLimit(l.Address); !at.IsZero() && time.Since(at) < 24*time.Hour {
				res.Reason += fmt.Sprintf("; note: the list server said at %s that it sends the poster no more notices today, so a hold would be silent", at.UTC().Format(time.RFC3339))
			}
			return
		}
	}
}

// cleanupEvidence deletes the verified messages that decided or accompanied a
// finished probe from the mailboxes of accounts with cleanup.
func (rt *Runtime) cleanupEvidence(logger *slog.Logger, l *ListConfig, messageID string, evs []evidence) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for _, e := range evs {
		rt.deleteMessages(ctx, rt.mailboxes[e.account], e.uidv, e.uid)
	}
}

// discardHeld discards a held probe through Mailman REST when the list's
// server has discard_held, whatever evidence told listprobe it was held.
// Only the request whose Message-ID is the probe's is discarded, after
// reading it back: Mailman reuses request ids.
func (rt *Runtime) discardHeld(logger *slog.Logger, l *ListConfig, messageID string) {
	if l.Mailman == "" || !rt.cfg.Mailman[l.Mailman].DiscardHeld {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	mm := rt.mailman[l.Mailman]
	held, err := mm.Held(ctx, l.Address)
	if err != nil {
		logger.Warn("reading the held queue to discard the probe failed", "err", err)
		return
	}
	for _, h := range held {
		if !sameMessageID(h.MessageID, messageID) {
			continue
		}
		ok, err := mm.DiscardMessage(ctx, l.Address, h.RequestID, messageID)
		switch {
		case err != nil:
			logger.Warn("discarding held probe failed", "request_id", h.RequestID, "err", err)
		case ok:
			logger.Debug("discarded held probe", "request_id", h.RequestID, "message_id", messageID)
		}
	}
}

func sameMessageID(a, b string) bool {
	trim := func(s string) string { return strings.Trim(strings.TrimSpace(s), "<>") }
	return trim(a) != "" && strings.EqualFold(trim(a), trim(b))
}

func smtpReply(se *checks.SubmitError) string {
	if se.Code == 0 {
		return se.Message
	}
	s := fmt.Sprintf("%d", se.Code)
	if se.EnhancedCode != [3]int{} {
		s += fmt.Sprintf(" %d.%d.%d", se.EnhancedCode[0], se.EnhancedCode[1], se.EnhancedCode[2])
	}
	return s + " " + se.Message
}

func submitOptions(a *AccountConfig) *checks.SubmitOptions {
	s := a.SMTP
	opts := &checks.SubmitOptions{Address: s.Address, TLS: s.TLS, TLSConfig: s.TLSConfig(), LocalName: "listprobe.localhost"}
	user, pass := s.Username, s.Password()
	switch s.Auth {
	case "plain":
		opts.Auth = func() sasl.Client { return sasl.NewPlainClient("", user, pass) }
	case "login":
		opts.Auth = func() sasl.Client { return sasl.NewLoginClient(user, pass) }
	case "oauthbearer":
		opts.Auth = func() sasl.Client {
			return sasl.NewOAuthBearerClient(&sasl.OAuthBearerOptions{Username: user, Token: pass})
		}
	case "anonymous":
		opts.Auth = func() sasl.Client { return sasl.NewAnonymousClient(a.Address) }
	case "external":
		opts.Auth = func() sasl.Client { return sasl.NewExternalClient(user) }
	}
	return opts
}

// watchModeration reads the list's moderation settings and queue depth from
// Mailman REST now and every Refresh, so that a changed setting shows before
// any probe is sent.
func (rt *Runtime) watchModeration(ctx context.Context, l *ListConfig) {
	mc := rt.cfg.Mailman[l.Mailman]
	t := time.NewTicker(time.Duration(mc.Refresh))
	defer t.Stop()
	for {
		rt.readModeration(ctx, l)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

func (rt *Runtime) readModeration(ctx context.Context, l *ListConfig) {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	s, err := rt.moderationState(ctx, l)
	if err != nil && !errors.Is(ctx.Err(), context.Canceled) {
		rt.logger.Warn("reading Mailman moderation state failed", "list", l.Address, "err", err)
	}
	rt.metrics.Mailman(l.Address, s)
}

// moderationState reads the list's queue depth and moderation settings; on
// error the state says the REST API is not up.
func (rt *Runtime) moderationState(ctx context.Context, l *ListConfig) (MailmanState, error) {
	mm := rt.mailman[l.Mailman]
	// The count only: the queue may hold many large posts.
	held, err := mm.HeldCount(ctx, l.Address)
	if err != nil {
		return MailmanState{}, err
	}
	mod, err := mm.Moderation(ctx, l.Address)
	if err != nil {
		return MailmanState{}, err
	}
	own, err := mm.MemberModeration(ctx, l.Address, rt.cfg.Accounts[l.Poster].Address)
	if err != nil {
		return MailmanState{}, err
	}
	return MailmanState{Up: true, Held: held, DefaultMemberAction: mod.DefaultMemberAction,
		DefaultNonmemberAction: mod.DefaultNonmemberAction, MemberAction: own, Emergency: mod.Emergency}, nil
}
