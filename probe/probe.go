package probe

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime/debug"
	"strings"
	"time"

	"github.com/emersion/go-sasl"

	"github.com/listprobe/listprobe/checks"
	"github.com/listprobe/listprobe/checks/compose"
	"github.com/listprobe/listprobe/checks/submit"
	"github.com/listprobe/listprobe/probe/config"
)

// Probe timings that are not settings.
const (
	// readerWait is the longest a probe waits for its reader's session
	// before giving up without posting (less when the timeout is shorter).
	readerWait = 30 * time.Second
	// noticeWait is the longest a probe waits for the poster's and the
	// moderator's sessions (optional evidence) before posting anyway; at
	// most a quarter of the probe's timeout.
	noticeWait = 10 * time.Second
	// cleanupTimeout bounds the deletions and REST discards after a probe.
	cleanupTimeout = time.Minute
	// NoticeLimitWindow is how long a "no more notices today" warning from
	// the list server is taken to last.
	NoticeLimitWindow = 24 * time.Hour
)

// probeRun is one probe in progress: what its stages share.
type probeRun struct {
	// Set up before the stages run; the stages only read them.
	cfg                             *config.Config
	list                            *config.ListConfig
	poster                          *config.AccountConfig
	logger                          *slog.Logger
	msg                             compose.Probe
	pending                         *pendingProbe   // registered: sightings arrive on it
	reader, posterBox, moderatorBox *accountSession // reader: the first reader's
	readers                         []*readerRun
	mailman                         *mailmanWatcher
	failFast                        bool
	timeout                         time.Duration // the list's effective timeout
	noticeLimit                     time.Time     // when the poster was last told "no more notices today"
	releaseSlot                     func()        // gives back the in-flight slot once the post is handed over

	// What the stages produce.
	res        *Result    // the outcome, set by the stage that decides it
	raw        []byte     // the composed post
	accepted   time.Time  // when SMTP accepted the post
	cleanup    []sighting // messages to delete once the outcome is recorded
	copySeen   string     // a copy of the probe seen outside the reader's mailbox, where and when (hints.go)
	expectDone func()     // ends the reader's expectation of the copy
}

// A stage is one step of a probe, in the style of blackbox_exporter's probe
// functions: it does its part and reports whether the outcome is decided
// (set in r.res). The stages run in order until one decides.
type stage struct {
	name string
	run  func(ctx context.Context, r *probeRun) (decided bool)
}

// probeStages are the stages of every probe. Cleaning up comes after the
// outcome is recorded, whatever stage decided it.
var probeStages = []stage{
	{"sessions", waitSessions},
	{"compose", composeProbe},
	{"submit", submitProbe},
	{"await", awaitEvidence},
}

// waitSessions waits for the reader's session: a probe that nobody could
// read back would say nothing about the list and only leave mail behind, so
// it is not posted. The poster's and moderator's sessions report only mail
// that arrives while they watch, so a notice that came before they were up
// would be missed: they are waited for too, briefly, as they are optional.
func waitSessions(ctx context.Context, r *probeRun) bool {
	if err := waitReaders(ctx, r); err != nil {
		r.res.Outcome, r.res.Reason, r.res.Evidence = Error, err.Error(), "reader mailbox"
		return true
	}
	for _, s := range []*accountSession{r.posterBox, r.moderatorBox} {
		if s == nil || r.readerOf(s.name) != nil {
			continue
		}
		wctx, cancel := context.WithTimeout(ctx, min(noticeWait, r.timeout/4))
		if err := s.waitUp(wctx, r.failFast); err != nil {
			r.logger.Warn("posting although a notice mailbox is down: holds and bounces sent there will not be seen", "err", err)
		}
		cancel()
	}
	return false
}

// composeProbe writes and signs the probe message.
func composeProbe(_ context.Context, r *probeRun) bool {
	var dkimOpts *compose.DKIMOptions
	if d := r.poster.DKIM; d != nil {
		dkimOpts = &compose.DKIMOptions{Domain: d.Domain, Selector: d.Selector, Key: r.poster.DKIMKey()}
	}
	raw, err := compose.Message(r.msg, dkimOpts)
	if err != nil {
		r.res.Outcome, r.res.Reason, r.res.Evidence = SendFailed, err.Error(), "compose"
		return true
	}
	r.raw = raw
	return false
}

// submitProbe posts the probe over SMTP. A permanent refusal is the list
// (or its MTA) rejecting the post; anything else that fails is send_failed.
func submitProbe(ctx context.Context, r *probeRun) bool {
	r.logger.Debug("posting probe", "smtp", r.poster.SMTP.Address, "message_id", r.res.MessageID)
	// From now on the copy is due: the reader's session asks the server
	// instead of waiting for IDLE to tell it, which Dovecot does about half
	// a second late. The expectation ends with the probe.
	if deadline, ok := ctx.Deadline(); ok {
		var dones []func()
		for _, rr := range r.readers {
			dones = append(dones, rr.box.expect(deadline))
		}
		r.expectDone = func() {
			for _, done := range dones {
				done()
			}
		}
	}
	sub, err := submit.Send(ctx, submitOptions(r.poster), r.poster.Address, []string{r.list.Address}, r.raw)
	// Handed over or not, it is not sent again: the thousands of probes
	// awaiting their copies need not each keep their post.
	r.raw = nil
	if err != nil {
		var se *submit.Error
		if errors.As(err, &se) {
			r.res.SubmitReply = readable(se.Message)
			// Only once DATA began can the message have reached the server.
			r.res.Posted = se.Stage == submit.StageData
			if se.Permanent {
				r.res.Outcome, r.res.Reason, r.res.Evidence = Rejected, smtpReply(se), "SMTP reply to "+strings.ToUpper(se.Stage)
				return true
			}
		}
		r.res.Outcome, r.res.Reason, r.res.Evidence = SendFailed, readable(err.Error()), "SMTP submission"
		if errors.Is(ctx.Err(), context.Canceled) {
			// listprobe stopping cut the conversation: that says nothing
			// of the list server.
			r.res.Outcome, r.res.Reason = Error, "probe cancelled while posting: "+r.res.Reason
		}
		return true
	}
	r.res.Posted = true
	r.res.SubmitReply, r.res.SubmitDuration = readable(sub.Reply), sub.Duration
	r.accepted, r.res.AcceptedAt = sub.AcceptedAt, sub.AcceptedAt
	r.logger.Debug("probe accepted", "reply", r.res.SubmitReply, "submit_duration", sub.Duration)
	return false
}

// awaitEvidence waits for the copy, a notice, a bounce or the Mailman held
// queue to decide the outcome, until the probe's deadline.
func awaitEvidence(ctx context.Context, r *probeRun) bool {
	if r.releaseSlot != nil {
		r.releaseSlot()
	}
	if r.mailman != nil {
		r.mailman.poke(r.list.Address)
	}
	for {
		select {
		case got := <-r.pending.sightings:
			e := *got
			r.logger.Debug("evidence", "kind", e.kind, "manager", e.manager, "account", e.account, "uid", e.uid, "reason", e.reason, "seen_at", e.seenAt.UTC().Format(time.RFC3339Nano))
			if e.deletable && e.account != "" {
				r.cleanup = append(r.cleanup, e)
			}
			if applyEvidence(r, e) {
				return true
			}
		case <-ctx.Done():
			r.deadline(ctx)
			return true
		}
	}
}

// applyEvidence applies one piece of evidence to the probe, reporting
// whether it decided the outcome.
func applyEvidence(r *probeRun, e sighting) bool {
	res := r.res
	if isHint(e) {
		r.noteHint(e)
		return false
	}
	switch e.kind {
	case checks.KindProbeCopy:
		rr := r.readerOf(e.account)
		if rr == nil || rr.seen {
			r.logger.Debug("probe copy in a mailbox that is not a reader's, or a reader's second", "account", e.account)
			if rr == nil {
				r.noteCopy(e)
			}
			return false
		}
		if e.approved {
			// Released by a moderator: the list held it, and how long the
			// moderator took is not the list's latency.
			res.Outcome, res.Evidence = Held, "list copy released by a moderator"
			res.Reason = "held, then approved by a moderator"
			if !e.approvedAt.IsZero() {
				res.Reason += fmt.Sprintf(" after %s", max(e.approvedAt.Sub(r.accepted), 0).Round(time.Second))
			}
			return true
		}
		// A copy in Junk is junk, never delivered: the list delivered,
		// the reader's filter called it spam.
		return r.readerCopy(rr, e)
	case checks.KindHoldNotice, checks.KindModeratorNotice:
		res.Outcome, res.Reason = Held, e.reason
		if st, ok := r.mailmanState(); ok && !st.Poster.Subscribed {
			res.Reason += "; note: the poster " + r.poster.Address + " is not a member of the list, so its posts are held as a non-member's"
		}
		switch {
		case e.account == "":
			res.Evidence = fmt.Sprintf("Mailman REST held queue, request %d", e.requestID)
		case e.byTime:
			res.Evidence = fmt.Sprintf("%s %s in %s's mailbox, matched by time (it names no probe; this was the only pending probe of the list)", e.manager, strings.ReplaceAll(string(e.kind), "_", " "), e.account)
		default:
			res.Evidence = fmt.Sprintf("%s %s in %s's mailbox", e.manager, strings.ReplaceAll(string(e.kind), "_", " "), e.account)
		}
		return true
	case checks.KindBounce:
		// A bounce rejects the post only when what failed was the
		// delivery to the list; a subscriber's bounce says nothing of the
		// post. A bounce that names no recipient counts only in the
		// poster's mailbox, where the post's own bounces go.
		if !r.bounceOfList(e) {
			r.logger.Debug("bounce of another recipient", "recipient", e.recipient)
			return false
		}
		res.Outcome, res.Reason = Rejected, e.reason
		res.Evidence = fmt.Sprintf("%s %s in %s's mailbox", e.manager, e.kind, e.account)
		return true
	case checks.KindRejection:
		res.Outcome, res.Reason = Rejected, e.reason
		res.Evidence = fmt.Sprintf("%s %s in %s's mailbox", e.manager, e.kind, e.account)
		return true
	}
	return false
}

// copyHow says how a copy carries the probe, when it is not plainly the
// post itself.
func copyHow(e sighting, poster string) string {
	switch {
	case e.copy == checks.CopyWrapped:
		return " (the post wrapped in a message from the list)"
	case e.copy == checks.CopyFromList:
		return " (sent as the list, with a Message-ID of its own)"
	case e.from != "" && !strings.EqualFold(e.from, poster):
		return " (From rewritten by the list)"
	}
	return ""
}

// deadline decides a probe whose time ran out: lost, unless listprobe could
// not have seen the copy.
func (r *probeRun) deadline(ctx context.Context) {
	res := r.res
	// Cancelled (listprobe stopping) before its deadline: the sessions end
	// too, so their state says nothing.
	if errors.Is(ctx.Err(), context.Canceled) {
		res.Outcome, res.Reason, res.Evidence = Error, "probe cancelled before an outcome", ""
		return
	}
	blind := func(rr *readerRun) string {
		why, _ := readerBlind(rr.box, r.timeout)
		return why
	}
	if r.readersAtDeadline(blind) || len(r.readers) > 1 {
		// Some reader saw a copy, or several readers: the list's outcome
		// is the worst reader's.
		r.decideByReaders()
		return
	}
	if why := blind(r.readers[0]); why != "" {
		res.Outcome, res.Evidence, res.Reason = Error, "reader mailbox", why
		return
	}
	if r.decideFromHint() {
		return
	}
	res.Outcome = Lost
	res.Reason = r.noCopyReason("")
	if st, ok := r.mailmanState(); ok {
		if why := cannotReceive(st.Reader); why != "" {
			// The probe's own account is the cause: say so instead of
			// blaming the list.
			res.Reason = fmt.Sprintf("no copy within %s: the reader %s (Mailman says so since %s at the latest); the list itself may be fine",
				r.timeout, why, st.Since.UTC().Format(time.RFC3339))
		}
	}
	if r.mailman != nil && res.Posted {
		res.Reason = r.mailman.pipe.explainLost(ctx, res.Reason, res.MessageID, r.accepted)
	}
	for _, s := range []*accountSession{r.posterBox, r.moderatorBox} {
		if s == nil || r.readerOf(s.name) != nil {
			continue
		}
		if up, _, err := s.State(); !up {
			res.Reason += fmt.Sprintf("; note: %s's mailbox was unreachable (%v), so notices sent there could not be seen", s.name, err)
		}
	}
	if at := r.noticeLimit; !at.IsZero() && time.Since(at) < NoticeLimitWindow {
		res.Reason += fmt.Sprintf("; note: the list server said at %s that it sends the poster no more notices today, so a hold would be silent", at.UTC().Format(time.RFC3339))
	}
}

// hopsOf turns a copy's Received chain into the result's hops, each with
// the seconds since the one before, clamped to zero when the dates run
// backwards (see Hop).
func hopsOf(hs []checks.Hop) []Hop {
	var out []Hop
	for i, h := range hs {
		hop := Hop{By: h.By, With: h.With, At: h.At}
		if i > 0 && !h.At.IsZero() && !hs[i-1].At.IsZero() {
			hop.Seconds = h.At.Sub(hs[i-1].At).Seconds()
		}
		if hop.Seconds < 0 {
			hop.Seconds, hop.ClampedFrom = 0, hop.Seconds
		}
		out = append(out, hop)
	}
	return out
}

// mailmanState is what the list's Mailman watcher last read, when it could.
func (r *probeRun) mailmanState() (MailmanState, bool) {
	if r.mailman == nil {
		return MailmanState{}, false
	}
	st, ok := r.mailman.State(r.list.Address)
	return st, ok && st.Up
}

// cannotReceive says why a reader gets no copies of the list's posts, or ""
// when, as far as the list server says, it does.
func cannotReceive(m MemberState) string {
	switch {
	case !m.Subscribed:
		return "is not subscribed to the list"
	case m.DeliveryStatus == "by_bounces":
		return "has its delivery disabled by bounces (delivery_status by_bounces)"
	case m.DeliveryStatus != "" && m.DeliveryStatus != "enabled":
		return "has its delivery disabled (delivery_status " + m.DeliveryStatus + ")"
	case m.DeliveryMode != "" && m.DeliveryMode != "regular":
		return "receives digests (delivery_mode " + m.DeliveryMode + "), not each post"
	}
	return ""
}

// probe runs one probe of list now and records it. ctx ends it early (the
// service stopping); the probe's own timeout comes from the list.
func (s *Service) probe(ctx context.Context, cfg *config.Config, l *config.ListConfig, releaseSlot func()) (res *Result) {
	start := time.Now()
	var buf logBuffer
	logger := slog.New(teeHandler{s.logger.Handler(), slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug})}).With("list", l.Address)

	tok := cfg.Signer().NewTokenWithOrigin(l.Address, start, cfg.Signer().Origin(s.opts.Instance))
	poster := cfg.Accounts[l.Poster]
	msg := compose.Probe{From: poster.Address, List: l.Address, Token: cfg.Signer().Encode(tok), Date: start}
	res = &Result{ID: tok.ID, List: l.Address, Expected: Outcome(l.Expect), MessageID: msg.MessageID(), SentAt: start.UTC().Truncate(time.Second), Token: msg.Token, Started: start}
	r := &probeRun{cfg: cfg, list: l, poster: poster, logger: logger, res: res, msg: msg, failFast: s.opts.FailFast, timeout: l.EffectiveTimeout(cfg.Global), releaseSlot: releaseSlot,
		pending: &pendingProbe{list: l, cfg: cfg, token: tok, messageID: msg.MessageID(), sightings: make(chan *sighting, sightingBuffer)}}
	for _, name := range l.ReaderAccounts() {
		if b := s.sessions.acquire(name); b != nil {
			r.readers = append(r.readers, &readerRun{account: name, box: b})
		}
	}
	if len(r.readers) > 0 {
		r.reader = r.readers[0].box
	}
	r.posterBox = s.sessions.acquire(l.Poster)
	if l.Moderator != "" {
		r.moderatorBox = s.sessions.acquire(l.Moderator)
	}
	defer func() {
		for _, rr := range r.readers {
			s.sessions.release(rr.box)
		}
		for _, b := range []*accountSession{r.posterBox, r.moderatorBox} {
			s.sessions.release(b)
		}
	}()
	if l.Mailman != "" {
		r.mailman = s.mailman.get(l.Mailman)
	}
	r.noticeLimit = s.NoticeLimit(l.Address)
	// Registered before posting, so that a copy arriving before the SMTP
	// conversation ends is not missed.
	s.reg.add(r.pending)

	ctx, cancel := context.WithDeadline(ctx, start.Add(r.timeout))
	defer cancel()
	s.runStages(ctx, r)
	if r.expectDone != nil {
		r.expectDone()
	}

	res.Finished = time.Now()
	res.OK = res.Outcome == res.Expected
	if len(r.readers) > 1 {
		res.Readers = r.readerResults()
	}
	cleanResult(res)
	if !res.Posted {
		res.MessageID, res.SentAt = "", time.Time{}
	}
	s.reg.finish(r.pending, res.Outcome, res.Finished)
	s.checkArchive(ctx, r)

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
	s.metrics.Record(res)
	s.history.Add(res)

	s.cleanupAfter(r)
	return res
}

// runStages runs the probe's stages until one decides. A stage that panics
// decides the outcome as error, with the panic, instead of ending the
// process: one bad message must not stop every other list's probes.
func (s *Service) runStages(ctx context.Context, r *probeRun) {
	stages := s.stages
	if stages == nil {
		stages = probeStages
	}
	for _, st := range stages {
		if s.runStage(ctx, r, st) {
			return
		}
	}
	r.res.Outcome, r.res.Reason = Error, "no stage decided the outcome"
}

func (s *Service) runStage(ctx context.Context, r *probeRun, st stage) (decided bool) {
	defer func() {
		if p := recover(); p != nil {
			r.logger.Error("probe stage panicked", "stage", st.name, "panic", p, "stack", string(debug.Stack()))
			r.res.Outcome, r.res.Evidence = Error, "listprobe internal error"
			r.res.Reason = readable(fmt.Sprintf("internal error in the %s stage: %v", st.name, p))
			decided = true
		}
	}()
	return st.run(ctx, r)
}

// cleanupAfter deletes the verified messages that decided or accompanied a
// finished probe from the mailboxes of accounts with cleanup, and discards a
// held probe through Mailman REST where the server allows it.
func (s *Service) cleanupAfter(r *probeRun) {
	ctx, cancel := s.cleanupContext()
	defer cancel()
	for _, e := range r.cleanup {
		if a := r.cfg.Accounts[e.account]; a == nil || !a.Cleanup {
			continue
		}
		s.deleteMessage(ctx, e.account, e.placement, e.uidv, e.uid)
	}
	if r.res.Outcome == Held && r.mailman != nil && r.cfg.Mailman[r.list.Mailman].DiscardHeld {
		r.mailman.discardHeld(ctx, r.logger, r.list.Address, r.res.MessageID)
	}
}

// deleteMessage deletes one message from the current session of account.
func (s *Service) deleteMessage(ctx context.Context, account string, p Placement, uidv, uid uint32) {
	b := s.sessions.acquire(account)
	if b == nil {
		return
	}
	defer s.sessions.release(b)
	box := b.mailbox(p)
	if box == nil {
		return
	}
	if err := box.Delete(ctx, uidv, uid); err != nil {
		s.logger.Warn("cleanup failed", "account", account, "folder", p, "uid", uid, "err", err)
	}
}

func smtpReply(se *submit.Error) string {
	if se.Code == 0 {
		return readable(se.Message)
	}
	s := fmt.Sprintf("%d", se.Code)
	if se.EnhancedCode != [3]int{} {
		s += fmt.Sprintf(" %d.%d.%d", se.EnhancedCode[0], se.EnhancedCode[1], se.EnhancedCode[2])
	}
	return s + " " + readable(se.Message)
}

func submitOptions(a *config.AccountConfig) *submit.Options {
	s := a.SMTP
	opts := &submit.Options{Address: s.Address, TLS: s.TLS, TLSConfig: s.TLSConfig(), LocalName: "listprobe.localhost"}
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
