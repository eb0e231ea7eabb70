package probe

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"
)

// This file holds a probe's readers: a list may have several (one per
// receiving provider, say); each reader's result is recorded, and the
// list's outcome is the worst of them in ReaderOrder.

// ReaderOrder ranks what a reader can see of a probe, worst first: the list
// lost the copy for it; its filter called the copy spam; listprobe could not
// look into its mailbox; it got the copy. A list's outcome is its worst
// reader's. A list failure (lost, junk) outranks error, as in once's exit
// code: a reader that could not be watched does not hide another that got
// nothing.
var ReaderOrder = []Outcome{Lost, Junk, Error, Delivered}

// ReaderResult is one reader's view of a probe.
type ReaderResult struct {
	Reader  string   `json:"reader"`
	Outcome Outcome  `json:"outcome"`
	Latency *float64 `json:"latency_seconds"` // seconds; nil without a copy
	// Placement is where its copy arrived (inbox, junk); "" without one.
	Placement Placement `json:"placement"`
}

// readerRun is one reader of a probe in progress.
type readerRun struct {
	account string
	box     *accountSession
	// What its copy said, once seen.
	seen      bool
	outcome   Outcome
	placement Placement
	latency   float64
	evidence  string
	reason    string
}

// worse reports whether outcome a ranks worse than b in ReaderOrder.
func worse(a, b Outcome) bool {
	ia, ib := slices.Index(ReaderOrder, a), slices.Index(ReaderOrder, b)
	return ia >= 0 && (ib < 0 || ia < ib)
}

// readerOf returns the probe's reader with this account, or nil.
func (r *probeRun) readerOf(account string) *readerRun {
	for _, rr := range r.readers {
		if rr.account == account {
			return rr
		}
	}
	return nil
}

// waitReaders waits for the readers' sessions. A probe that nobody could
// read back would say nothing about the list and only leave mail behind, so
// it is not posted unless at least one reader is up; a reader that is down
// may come up in time, and is error at the deadline if it does not.
func waitReaders(ctx context.Context, r *probeRun) error {
	if len(r.readers) == 0 {
		// Validation requires a reader with IMAP; a reload racing this
		// probe may have removed its session.
		return fmt.Errorf("no mailbox session for the readers of %s", r.list.Address)
	}
	wait := min(readerWait, time.Until(r.res.Started.Add(r.timeout)))
	wctx, cancel := context.WithTimeout(ctx, wait)
	defer cancel()
	var firstErr error
	up := 0
	for _, rr := range r.readers {
		err := rr.box.waitUp(wctx, r.failFast)
		if err == nil {
			rr.box.waitJunk(wctx)
			up++
			continue
		}
		if firstErr == nil {
			firstErr = err
		}
		if len(r.readers) > 1 {
			r.logger.Warn("posting although a reader's mailbox is down", "reader", rr.account, "err", err)
		}
	}
	if up == 0 {
		return firstErr
	}
	return nil
}

// readerCopy records a reader's copy and reports whether every reader has
// seen one, which decides the list's outcome.
func (r *probeRun) readerCopy(rr *readerRun, e sighting) bool {
	rr.seen, rr.placement = true, e.placement
	rr.latency = max(e.seenAt.Sub(r.accepted), 0).Seconds()
	if e.placement == PlacementJunk {
		rr.outcome = Junk
		rr.reason = fmt.Sprintf("the list delivered, but %s's filter called the copy spam: it was in the Junk folder %.3fs after SMTP accepted the post", e.account, rr.latency)
		rr.evidence = "list copy in reader's Junk folder" + copyHow(e, r.poster.Address)
		if e.filter != "" {
			rr.evidence += "; filter verdict: " + e.filter
		}
	} else {
		rr.outcome = Delivered
		rr.reason = fmt.Sprintf("copy seen in %s's mailbox %.3fs after SMTP accepted the post", e.account, rr.latency)
		rr.evidence = "list copy in reader mailbox" + copyHow(e, r.poster.Address)
	}
	markUnauthenticated(rr, e)
	if r.res.Hops == nil {
		// The first copy's route and authentication verdict stand for the
		// list's (each reader's copy left the list the same way).
		r.res.Hops = hopsOf(e.hops)
		r.res.Authentication = AuthenticationOf(e.authn)
	}
	for _, o := range r.readers {
		if !o.seen {
			return false
		}
	}
	r.decideByReaders()
	return true
}

// readersAtDeadline gives each reader without a copy its outcome at the
// deadline: lost, or error when its mailbox was unreachable (why: the
// reason then). It reports whether any reader saw a copy.
func (r *probeRun) readersAtDeadline(why func(*readerRun) string) bool {
	any := false
	for _, rr := range r.readers {
		if rr.seen {
			any = true
			continue
		}
		rr.outcome, rr.reason = Lost, r.noCopyReason(rr.account)
		if why := r.readerCannotReceive(rr.account); why != "" {
			// The reader's own membership is the cause, not the list.
			rr.reason += ": " + why
		}
		if s := why(rr); s != "" {
			rr.outcome, rr.reason, rr.evidence = Error, s, "reader mailbox"
		}
	}
	return any
}

// decideByReaders sets the list's outcome from its readers': the worst
// one, with that reader's reason and evidence; with several readers the
// reason says what each one saw. A delivered list's latency is its slowest
// reader's: the time the list took to reach them all.
func (r *probeRun) decideByReaders() {
	res := r.res
	worst := r.readers[0]
	slowest := 0.0
	for _, rr := range r.readers {
		if worse(rr.outcome, worst.outcome) {
			worst = rr
		}
		slowest = max(slowest, rr.latency)
	}
	res.Outcome, res.Reason, res.Evidence = worst.outcome, worst.reason, worst.evidence
	res.Latency = nil
	if res.Outcome == Delivered {
		res.Latency = &slowest
	}
	if len(r.readers) > 1 {
		res.Reason = ReadersSummary(r.readerResults()) + "; " + worst.reason
	}
}

// readerResults are the readers' results once the probe is decided: a
// reader without a copy of its own has the list's outcome (held, rejected:
// nobody got one).
func (r *probeRun) readerResults() []ReaderResult {
	out := make([]ReaderResult, 0, len(r.readers))
	for _, rr := range r.readers {
		rr := rr
		res := ReaderResult{Reader: rr.account, Outcome: rr.outcome}
		if rr.seen {
			res.Latency, res.Placement = &rr.latency, rr.placement
		}
		if res.Outcome == "" {
			res.Outcome = r.res.Outcome
		}
		out = append(out, res)
	}
	return out
}

// ReadersSummary says what each reader saw, in one line: "delivered to
// reader-a in 0.02 s, in reader-b's Junk, no copy for reader-c".
func ReadersSummary(rs []ReaderResult) string {
	var parts []string
	for _, rr := range rs {
		switch {
		case rr.Outcome == Delivered && rr.Latency != nil:
			parts = append(parts, fmt.Sprintf("delivered to %s in %.2f s", rr.Reader, *rr.Latency))
		case rr.Outcome == Junk && rr.Latency != nil:
			parts = append(parts, fmt.Sprintf("in %s's Junk", rr.Reader))
		case rr.Outcome == Lost:
			parts = append(parts, "no copy for "+rr.Reader)
		case rr.Outcome == Error:
			parts = append(parts, rr.Reader+"'s mailbox not watched")
		default:
			parts = append(parts, fmt.Sprintf("%s for %s", rr.Outcome, rr.Reader))
		}
	}
	return strings.Join(parts, ", ")
}
