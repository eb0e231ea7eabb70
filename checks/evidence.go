package checks

import (
	"github.com/emersion/go-message/mail"
)

// Kind says what a message is to listprobe.
type Kind string

// The kinds of message listprobe recognises (the values of explain's "kind").
const (
	KindProbeCopy       Kind = "probe_copy"       // a list's copy of a probe post
	KindHoldNotice      Kind = "hold_notice"      // to the poster: your post awaits moderator approval
	KindModeratorNotice Kind = "moderator_notice" // to the moderators: a post requires approval
	KindRejection       Kind = "rejection"        // the list manager refused the post
	KindBounce          Kind = "bounce"           // a delivery status notification (RFC 3464) or MTA bounce
	KindNoticeLimit     Kind = "notice_limit"     // "Last autoresponse notification for today"
	KindUnrelated       Kind = "unrelated"        // anything else
)

// Evidence is what a message says about which probe, if any.
type Evidence struct {
	Kind Kind
	// Manager names the software that wrote a notice: "mailman3",
	// "mailman2", or for bounces "dsn" (RFC 3464) or "mta" (a plain-text
	// bounce). Empty for probe copies and unrelated mail.
	Manager string
	// List is the list's posting address when the message names it.
	List string
	// Tokens are the candidate probe tokens found where this kind of message
	// carries them (own header, Message-ID, subject, quoted subject, the
	// original message of a bounce). Not verified: the caller verifies them
	// with a Signer.
	Tokens []string
	// Reason is the list server's or MTA's reason, for holds, rejections and
	// bounces: "The message comes from a moderated member", "550 5.1.1 ...".
	Reason string
}

// LooksLikeNotice reports whether a message with this header may be a
// notice or a bounce, so that its body is worth fetching. It errs on the
// side of yes; probe copies say no (their header carries the token).
func LooksLikeNotice(h mail.Header) bool { return false }

// Classify says what a message is, from its header and (for notices and
// bounces) its body. body may be nil or truncated.
//
// A person forwarding or quoting a notice is unrelated: notices are
// recognised by who sent them and how (the list's -bounces/-owner/-request
// address or MAILER-DAEMON, Auto-Submitted, the manager's own header
// fields), not by their words alone.
func Classify(h mail.Header, body []byte) Evidence { return Evidence{Kind: KindUnrelated} }
