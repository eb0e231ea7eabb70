package probe

import (
	"fmt"
	"strings"
	"time"

	"github.com/listprobe/listprobe/checks"
)

// This file is what a probe does with hints: notices, rejections and
// bounces that could not be shown to come from the list's server
// (trust.go). A hint never decides an outcome while a copy may still come:
// it is recorded in the result, logged, contradicted by any copy of the
// probe seen anywhere, and decides the outcome only when the timeout
// passes with no copy, saying the evidence was unauthenticated.

// maxHints bounds the hints a result keeps: a stranger can send many.
// Of them, at most maxCopyHints are unauthenticated copies, so that a
// stranger's copies cannot crowd out the notices.
const (
	maxHints     = 16
	maxCopyHints = 4
)

// isHint reports whether a sighting is a hint: an unauthenticated notice,
// rejection or bounce, or an unauthenticated copy where the list's copies
// must be authenticated (trust.go).
func isHint(e sighting) bool {
	if e.kind == checks.KindProbeCopy {
		return e.trust == TrustHint
	}
	return needsAuthn(e.kind) && e.trust != TrustAuthenticated
}

// noteHint records an unauthenticated message about the probe.
func (r *probeRun) noteHint(e sighting) {
	if e.kind == checks.KindBounce && !r.bounceOfList(e) {
		r.logger.Debug("unauthenticated bounce of another recipient", "recipient", e.recipient)
		return
	}
	if len(r.res.Hints) >= maxHints {
		return
	}
	if e.kind == checks.KindProbeCopy {
		r.noteCopyHint(e)
		return
	}
	what := kindWords(e.kind)
	h := Hint{Kind: string(e.kind), Manager: e.manager, Account: e.account, SeenAt: e.seenAt.UTC(),
		Said: e.reason, Why: e.trustWhy, DNSFailed: e.dnsFailed, Contradicted: r.copySeen}
	r.res.Hints = append(r.res.Hints, h)
	r.logger.Warn(fmt.Sprintf("an unauthenticated %s said %q", what, e.reason), "why", e.trustWhy,
		"account", e.account, "manager", e.manager, "contradicted", h.Contradicted)
}

// noteCopyHint records an unauthenticated copy where the list's copies
// must be authenticated: anyone can send one (every subscriber sees the
// probe's Message-ID, From, Subject and token). It decides nothing, sets
// no latency, contradicts no notice and is never deleted; an
// authenticated copy that comes later is the delivery, and at the timeout
// the lost reason names it (noCopyReason).
func (r *probeRun) noteCopyHint(e sighting) {
	n := 0
	for _, h := range r.res.Hints {
		if h.Kind == string(checks.KindProbeCopy) {
			n++
		}
	}
	if n >= maxCopyHints {
		return
	}
	h := Hint{Kind: string(checks.KindProbeCopy), Account: e.account, SeenAt: e.seenAt.UTC(),
		Said: copySaid(e.from), Why: e.trustWhy, DNSFailed: e.dnsFailed}
	r.res.Hints = append(r.res.Hints, h)
	r.logger.Warn(fmt.Sprintf("an unauthenticated copy arrived in %s's mailbox at %s, %s", e.account, h.SeenAt.Format(time.RFC3339), e.trustWhy),
		"account", e.account, "from", e.from)
}

// copySaid is what an unauthenticated copy "said", for its hint.
func copySaid(from string) string {
	if from == "" {
		return "a copy of the probe"
	}
	return "a copy of the probe from " + from
}

// markUnauthenticated says in a reader's result that its copy was counted
// unauthenticated: the list's server has no way to authenticate copies,
// so a forged one would have counted too.
func markUnauthenticated(rr *readerRun, e sighting) {
	if e.trust == TrustUnauthenticated {
		rr.reason += "; " + e.trustWhy
		rr.evidence += " (unauthenticated)"
	}
}

// noCopyReason is the reason of a probe (with account, of that reader)
// that got no copy by its timeout: it names the first unauthenticated
// copy, if one came.
func (r *probeRun) noCopyReason(account string) string {
	for _, h := range r.res.Hints {
		if h.Kind != string(checks.KindProbeCopy) || account != "" && h.Account != account {
			continue
		}
		return fmt.Sprintf("no authenticated copy within %s; an unauthenticated copy arrived in %s's mailbox at %s, %s: anyone can send one, so it is not counted",
			r.timeout, h.Account, h.SeenAt.Format(time.RFC3339), h.Why)
	}
	if account != "" {
		return fmt.Sprintf("no copy for %s within %s", account, r.timeout)
	}
	return fmt.Sprintf("no copy and no evidence within %s", r.timeout)
}

// noteCopy records a copy of the probe seen in a mailbox other than the
// reader's (the poster's own, a moderator's): the list distributed the
// post, which contradicts every hint of a hold or a refusal.
func (r *probeRun) noteCopy(e sighting) {
	if r.copySeen != "" {
		return
	}
	r.copySeen = fmt.Sprintf("a copy of the probe was seen in %s's mailbox at %s", e.account, e.seenAt.UTC().Format(time.RFC3339))
	for i := range r.res.Hints {
		if r.res.Hints[i].Contradicted == "" {
			r.res.Hints[i].Contradicted = r.copySeen
		}
	}
}

// decideFromHint decides a probe whose time ran out with no copy from its
// first hint that nothing contradicted: held or rejected, saying that the
// evidence was unauthenticated; error when DNS kept it from being checked.
// It reports whether a hint decided.
func (r *probeRun) decideFromHint() bool {
	res := r.res
	for i := range res.Hints {
		h := &res.Hints[i]
		if h.Contradicted != "" || h.Kind == string(checks.KindProbeCopy) {
			continue
		}
		h.Used = true
		what := kindWords(checks.Kind(h.Kind))
		res.Evidence = fmt.Sprintf("unauthenticated %s %s in %s's mailbox", h.Manager, what, h.Account)
		if h.DNSFailed {
			res.Outcome = Error
			res.Reason = fmt.Sprintf("no copy within %s; a %s came that %s, so it is neither believed nor disbelieved (it said: %s)", r.timeout, what, h.Why, h.Said)
			return true
		}
		res.Outcome = Held
		if h.Kind == string(checks.KindRejection) || h.Kind == string(checks.KindBounce) {
			res.Outcome = Rejected
		}
		res.Reason = fmt.Sprintf("no copy within %s; the only evidence is unauthenticated: a %s said: %s (%s)", r.timeout, what, h.Said, h.Why)
		return true
	}
	for i := range res.Hints {
		// A copy that DNS kept from being checked may be the list's own:
		// error, not lost.
		if h := &res.Hints[i]; h.Kind == string(checks.KindProbeCopy) && h.DNSFailed {
			h.Used = true
			res.Outcome, res.Evidence = Error, fmt.Sprintf("unauthenticated copy in %s's mailbox", h.Account)
			res.Reason = fmt.Sprintf("no authenticated copy within %s; a copy came at %s that %s, so it is neither believed nor disbelieved",
				r.timeout, h.SeenAt.Format(time.RFC3339), h.Why)
			return true
		}
	}
	return false
}

// bounceOfList reports whether a bounce is about the post's delivery to
// the list: a subscriber's bounce says nothing of the post, and a bounce
// that names no recipient counts only in the poster's mailbox, where the
// post's own bounces go.
func (r *probeRun) bounceOfList(e sighting) bool {
	return strings.EqualFold(e.recipient, r.list.Address) || (e.recipient == "" && e.account == r.list.Poster)
}

// kindWords names a kind in words: "hold notice".
func kindWords(k checks.Kind) string { return strings.ReplaceAll(string(k), "_", " ") }
