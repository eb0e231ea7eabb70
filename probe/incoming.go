package probe

import (
	"context"
	"strings"
	"time"

	"github.com/listprobe/listprobe/checks"
	"github.com/listprobe/listprobe/checks/authn"
	"github.com/listprobe/listprobe/checks/imapwatch"
	"github.com/listprobe/listprobe/probe/config"
)

// This file is where serve applies the judgement of a new message (Judge,
// in judge.go) to the service: evidence to a pending probe, a late copy
// counted, a message of listprobe's own deleted.

// onMessage judges a new message of a mailbox session (Judge) and applies
// the verdict: it hands the evidence to the pending probe it decides,
// counts a late copy of a finished one, and deletes the message only when
// the verdict proves it listprobe's own.
func (s *Service) onMessage(box *accountSession, msg imapwatch.Message, placement Placement) {
	cfg := s.Config()
	if cfg == nil {
		return
	}
	in := Incoming{Account: box.name, Placement: placement, Header: msg.Header, Body: msg.Body, SeenAt: msg.SeenAt}
	in.Auth = Authenticate(s.ctx, in, authnMessage(msg), cfg, s.dns.get(cfg))
	v := Judge(in, cfg, registryView{s})
	for _, l := range v.NoticeLimit {
		s.mu.Lock()
		s.limits[l] = msg.SeenAt
		s.mu.Unlock()
		s.metrics.NoticeLimit(l, msg.SeenAt)
		s.logger.Warn("list server sends the poster no more notices today: holds will be silent until tomorrow", "list", l, "account", box.name)
	}
	for _, l := range v.NoticeLimitHints {
		s.logger.Warn("an unauthenticated \"no more notices today\" message about the list: ignored", "list", l, "account", box.name)
	}
	if v.Forged {
		s.metrics.Forged(box.name)
		s.logger.Warn("message with a forged probe token", "account", box.name, "uid", msg.UID, "kind", v.Evidence.Kind, "message_id", readable(msg.Header.Get("Message-Id")))
		return
	}
	if len(v.Probes) == 0 {
		if v.Evidence.Kind != checks.KindUnrelated && (v.Evidence.ByTime || len(v.Claimed) > 0) {
			s.logger.Debug("message left alone: "+v.Why, "account", box.name, "uid", msg.UID, "kind", v.Evidence.Kind, "list", v.Evidence.List)
		}
		return
	}
	for _, d := range v.Probes {
		s.applyTo(cfg, v, d, msg, in.Auth)
	}
	if v.DeleteNow {
		ctx, cancel := context.WithTimeout(s.ctx, cleanupTimeout)
		defer cancel()
		if err := box.mailbox(placement).Delete(ctx, msg.UIDValidity, msg.UID); err != nil {
			s.logger.Warn("cleanup failed", "account", box.name, "folder", placement, "uid", msg.UID, "err", err)
		}
	}
}

// applyTo applies a verdict to one probe it names: evidence for a pending
// probe, a late delivery for a recorded one.
// auth are the message's authentication verdicts by list: a copy carries
// its list's to the result.
func (s *Service) applyTo(cfg *config.Config, v Verdict, d Decided, msg imapwatch.Message, auth map[string]*authn.Verdict) {
	ev := v.Evidence
	if d.EarlierRun {
		deadline := d.Token.SentAt
		if l := cfg.List(d.Token.List); l != nil {
			deadline = deadline.Add(l.EffectiveTimeout(cfg.Global))
		}
		s.reg.claim(d.Token.ID, d.List, deadline, cfg.Signer())
	}
	switch {
	case d.Pending:
		p, _, _ := s.reg.lookup(d.Token.ID)
		e := sighting{kind: ev.Kind, manager: ev.Manager, reason: readable(ev.Reason), account: v.Account, trust: v.Trust, trustWhy: readable(v.TrustWhy),
			dnsFailed: v.Auth != nil && v.Auth.TempError != "" && v.Trust != TrustAuthenticated,
			seenAt:    msg.SeenAt, uid: msg.UID, uidv: msg.UIDValidity, deletable: v.Deletable, byTime: d.ByTime,
			approved: ev.Approved, approvedAt: ev.ApprovedAt, recipient: ev.Recipient, copy: ev.Copy, from: ev.From,
			placement: v.Placement, filter: v.FilterVerdict}
		if v.Copy {
			e.hops = checks.Hops(msg.Header)
			if a := auth[strings.ToLower(d.List)]; a != nil {
				e.authn = &a.Checks
			}
		}
		switch {
		case p == nil:
			s.logger.Debug("evidence for a probe that has just finished", "list", d.Token.List, "kind", ev.Kind)
		case !p.deliver(e):
			s.logger.Warn("dropped evidence for a busy probe", "list", d.Token.List, "kind", ev.Kind)
		}
	case d.Late:
		if f, count := s.reg.markLate(d.Token.ID, arrivedAt(msg)); count {
			s.metrics.LateDelivery(d.List)
			s.history.LateDelivery(d.List, d.Token.ID, msg.SeenAt)
			s.logger.Warn("late delivery", "list", d.List, "recorded_outcome", f.outcome, "late_by", msg.SeenAt.Sub(f.at).Round(time.Millisecond))
		}
	case !d.Recorded:
		s.logger.Debug("probe of another process or an earlier run", "account", v.Account, "list", d.Token.List, "kind", ev.Kind, "uid", msg.UID)
	}
}

// registryView is the judgement's view of the service's probes.
type registryView struct{ s *Service }

func (r registryView) Probe(id string) (KnownProbe, bool) {
	p, f, ok := r.s.reg.lookup(id)
	switch {
	case p != nil:
		return knownPending(p), true
	case ok:
		return KnownProbe{ID: id, Signer: f.signer, List: f.list}, true
	}
	return KnownProbe{}, false
}

func (r registryView) PendingOf(list string) []KnownProbe {
	var out []KnownProbe
	for _, p := range r.s.reg.pendingFor(list) {
		out = append(out, knownPending(p))
	}
	return out
}

func (r registryView) Restart() (string, time.Time, bool) {
	return r.s.opts.Instance, r.s.started, r.s.claim
}

func knownPending(p *pendingProbe) KnownProbe {
	return KnownProbe{ID: p.token.ID, Pending: true, Signer: p.cfg.Signer(), Config: p.cfg,
		List: p.list.Address, PosterAccount: p.list.Poster, SentAt: p.token.SentAt}
}
