package probe

import (
	"github.com/listprobe/listprobe/checks"
)

// Bounds on what a result keeps. Evidence reasons are already cut to a
// thousand bytes where they are read; a result's reason adds a few words
// around one.
const (
	maxResultReason = 2000
	maxResultField  = 320
	// maxProbeLog bounds one probe's own log, kept in the history and
	// shown on its page.
	maxProbeLog = 64 << 10
)

// cleanResult is the last guard before a result is stored, shown, printed
// or exported: every text in it came, directly or not, from a server or a
// message (a REST reason, an SMTP reply, an IMAP error, a Received field),
// so each is made one line of valid UTF-8 without control characters and
// cut. A line break in a reason can then never start a forged line of its
// own in `once`'s output, on the /probe page or in the log.
func cleanResult(r *Result) {
	r.Reason = checks.Truncate(readable(r.Reason), maxResultReason)
	r.Evidence = checks.Truncate(readable(r.Evidence), maxResultField)
	r.SubmitReply = checks.Truncate(readable(r.SubmitReply), maxResultReason)
	r.MessageID = checks.Truncate(readable(r.MessageID), maxResultField)
	for i := range r.Hops {
		r.Hops[i].By = checks.Truncate(readable(r.Hops[i].By), maxResultField)
		r.Hops[i].With = checks.Truncate(readable(r.Hops[i].With), maxResultField)
	}
	if r.Authentication != nil {
		r.Authentication.clean()
	}
}
