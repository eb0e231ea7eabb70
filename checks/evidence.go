package checks

import (
	"strings"
	"time"

	"github.com/emersion/go-message/mail"

	"github.com/listprobe/listprobe/checks/idn"
	"github.com/listprobe/listprobe/checks/token"
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

// The values of Evidence.Manager.
const (
	ManagerMailman3 = "mailman3" // a notice written by GNU Mailman 3
	ManagerMailman2 = "mailman2" // a notice written by GNU Mailman 2.1
	ManagerDSN      = "dsn"      // an RFC 3464 delivery status notification (or a Dovecot MDN rejection)
	ManagerMTA      = "mta"      // a plain-text bounce from a mail server
	ManagerSympa    = "sympa"    // a notice written by Sympa (6.2)
	ManagerMlmmj    = "mlmmj"    // a notice written by mlmmj (1.3)
)

// Copy says how a message carries the probe it is a copy of. The classifier
// does not know who posted the probe, so it reports how the message
// identifies it, and Evidence.IsCopyOf decides for a given list and poster.
type Copy string

// The ways a list's copy carries the probe.
const (
	// CopyNone: not a copy of a probe.
	CopyNone Copy = ""
	// CopyByMessageID: the Message-ID is exactly a probe's (its local part
	// is the token). A copy only when From is the poster, or when From is
	// the list itself with its List-Id (DMARC munge_from: "poster via
	// List" <list@...>, the poster in Reply-To or X-Original-From).
	CopyByMessageID Copy = "message_id"
	// CopyFromList: From is the list's own address with the list's List-Id,
	// and the Subject is the probe's (under list tags only, no reply or
	// forward marker); the Message-ID is the list's own (Mailman's
	// anonymous_list).
	CopyFromList Copy = "from_list"
	// CopyWrapped: as CopyFromList, and the probe is attached whole as
	// message/rfc822 (Mailman's wrap_message, DMARC wrapping).
	CopyWrapped Copy = "wrapped"
)

// Evidence is what a message says about which probe, if any.
//
// Tokens are reported only where a message of its kind proves something:
// a copy's own Message-ID or list-written Subject; a notice's text that the
// list server wrote, or the header of the probe it attaches, and only when
// the notice comes from the robot addresses of the list the token names; a
// bounce's returned probe header, and only when the failed recipient is the
// list the token names. Everything else (a forward, a reply, a quote, a
// digest, a probe attached by a person, a probe of another list) is
// unrelated and carries no token.
type Evidence struct {
	Kind Kind
	// Manager names the software that wrote a notice: "mailman3",
	// "mailman2", "sympa", "mlmmj", or for bounces "dsn" (RFC 3464) or
	// "mta" (a plain-text bounce). Empty for probe copies and unrelated
	// mail.
	Manager string
	// List is the list's posting address when the message names it.
	List string
	// Tokens are the candidate probe tokens found where this kind of message
	// carries them (see above). Not verified: the caller verifies them with
	// a Signer.
	Tokens []string
	// Reason is the list server's or MTA's reason, for holds, rejections and
	// bounces: "The message comes from a moderated member", "550 5.1.1 ...".
	// One line of valid UTF-8, at most a thousand bytes.
	Reason string

	// Copy says how a probe_copy identifies its probe; CopyNone otherwise.
	Copy Copy
	// From is the lower-cased address in From ("" when it has none).
	From string
	// ListID is the identifier of the List-Id field, lower-cased and
	// without angle brackets ("test.lists.example.org"), "" without one.
	ListID string
	// Recipient is, for a bounce, the address whose delivery failed
	// (Final-Recipient, else Original-Recipient, X-Failed-Recipients, or
	// the address a plain bounce names), "" when the bounce does not say.
	Recipient string
	// Approved reports a copy that a moderator released after holding it
	// (Mailman's X-Mailman-Approved-At, Sympa's X-Validation-by): it was
	// held, and its latency is not the list's. ApprovedAt is the approval
	// time when the list manager records one, zero otherwise.
	Approved   bool
	ApprovedAt time.Time
	// ReturnPath is the envelope sender the receiving server recorded
	// (Return-Path), lower-cased; "<>" for the null sender of bounces, ""
	// when the field is missing.
	ReturnPath string
	// ByTime reports a notice that says which list it is about but names
	// no probe, because the list server quotes neither the post's Subject
	// nor its Message-ID: Sympa 6.2.70's "Your message to the list 'X'
	// has been forwarded to the moderator(s)" to the poster. Kind and
	// List are set and Tokens is empty. Such a notice can be tied to a
	// probe only by its list, the mailbox it arrived in (the poster's) and
	// its time: when exactly one probe of List from that poster is
	// pending, and the result should say that the match was by time. It
	// is never Deletable: nothing in it proves which post it is about.
	ByTime bool
}

// IsCopyOf reports whether the message is the list's copy of a probe of
// list posted by poster (both addresses; list as the verified token names
// it, poster as configured). It holds when
//   - the Message-ID is exactly the probe's and From is the poster, or
//   - From is the list's own address, List-Id is that list's, and the
//     message carries the probe: its Message-ID, its Subject without reply
//     or forward marker, or the probe attached whole.
//
// A forward, a reply, a digest or a probe attached by a person never holds.
// The caller must also have verified the token (Signer.Verify).
func (e Evidence) IsCopyOf(list, poster string) bool {
	if e.Kind != KindProbeCopy || !e.allTokensOf(list) {
		return false
	}
	fromList := idn.SameAddress(e.From, list) && e.ListID == listIDOf(list)
	switch e.Copy {
	case CopyByMessageID:
		return (poster != "" && idn.SameAddress(e.From, poster)) || fromList
	case CopyFromList, CopyWrapped:
		return fromList
	}
	return false
}

// Deletable reports whether the message may be deleted once its probe of
// list (posted by poster) is recorded: a copy for which IsCopyOf holds, or
// a notice or bounce that names only probes of list and that the list's
// own robot addresses (or, for a bounce, a mail server) wrote about them.
// Nothing a person wrote is ever deletable: such messages carry no tokens.
func (e Evidence) Deletable(list, poster string) bool {
	switch e.Kind {
	case KindProbeCopy:
		return e.IsCopyOf(list, poster)
	case KindHoldNotice, KindModeratorNotice, KindRejection:
		return e.allTokensOf(list) && e.envelopeFromSender()
	case KindBounce:
		return e.allTokensOf(list) && idn.SameAddress(e.Recipient, list) && e.envelopeFromSender()
	}
	return false
}

// envelopeFromSender reports whether the envelope agrees with From: a
// list server's robot sends its notices with an envelope sender of its own
// domain (Mailman's -bounces, Sympa's -owner, mlmmj's +bounces-…) and
// bounces come from the null sender. A person who writes a robot's address
// into From still sends from their own envelope: such a notice may decide
// nothing worse than a probe, and is never deleted. Without Return-Path
// (a server that does not record it) there is nothing to compare.
func (e Evidence) envelopeFromSender() bool {
	switch e.ReturnPath {
	case "", "<>":
		return true
	}
	_, rpDomain, _ := strings.Cut(e.ReturnPath, "@")
	_, fromDomain, _ := strings.Cut(e.From, "@")
	return rpDomain != "" && strings.EqualFold(rpDomain, fromDomain)
}

// allTokensOf reports whether the evidence names at least one probe and
// every probe it names claims list.
func (e Evidence) allTokensOf(list string) bool {
	if len(e.Tokens) == 0 {
		return false
	}
	for _, tok := range e.Tokens {
		t, err := token.Parse(tok)
		if err != nil || !strings.EqualFold(t.List, list) {
			return false
		}
	}
	return true
}

// listIDOf returns the List-Id identifier that Mailman, Sympa and Google
// Groups give the list with this posting address: the address with its
// "@" turned into a dot, lower-cased ("test.lists.example.org").
func listIDOf(list string) string {
	list = strings.TrimSpace(list)
	if a, err := idn.ASCIIAddress(list); err == nil {
		list = a // a List-Id is ASCII: an international domain in its A-label form
	}
	return strings.ToLower(strings.Replace(list, "@", ".", 1))
}

// ClassifyHeaderFields are the header fields Classify and Hops read: the
// mailbox watcher that hands them messages fetches these
// (imapwatch.Options.HeaderFields), so a field the classifier learns to read
// is never missing from what the mailbox fetches.
var ClassifyHeaderFields = []string{
	"From", "To", "Cc", "Subject", "Date", "Message-ID", "In-Reply-To", "References",
	token.Header, "Content-Type", "Content-Transfer-Encoding", "Auto-Submitted", "Precedence", "Sender",
	"List-Id", "List-Post", "X-Mailman-Version", "X-List-Administrivia", "X-Failed-Recipients",
	"Reply-To", "X-Original-From", "Received", "X-Mailman-Approved-At", "X-Validation-By",
	"X-Mailer", "X-Loop", "Return-Path", "Resent-From", "Resent-Sender", "Resent-Message-Id", "Resent-Date",
}

// maxReasonLen bounds Evidence.Reason: real reasons are a line or two, and
// the reason ends up in logs, JSON output and the status page.
const maxReasonLen = 1000

// incoming is one message being classified.
type incoming struct {
	managers []listManager // asked in order
	h        mail.Header
	body     []byte
	sender   sender
	subject  string // decoded, one line
	pb       *parsedBody
}

// parsed returns the body, parsed once.
func (m *incoming) parsed() *parsedBody {
	if m.pb == nil {
		m.pb = parseBody(m.h, m.body)
	}
	return m.pb
}

// fromList reports whether the message comes from list itself: From is the
// list's posting address and List-Id is the list's.
func (m *incoming) fromList(list string) bool {
	return list != "" && m.sender.authors == 1 && idn.SameAddress(m.sender.address, list) && listIDField(m.h) == listIDOf(list)
}

// LooksLikeNotice reports whether a message with this header may be a
// notice or a bounce, so that its body is worth fetching. It errs on the
// side of yes; probe copies say no (their header carries the token).
func LooksLikeNotice(h mail.Header) bool { return looksLikeNotice(h, listManagers) }

func looksLikeNotice(h mail.Header, managers []listManager) bool {
	s := senderOf(h)
	if s.mailerDaemon || s.role != "" {
		return true
	}
	if mt, _ := contentType(h); mt == "multipart/report" || h.Has("X-Failed-Recipients") {
		return true
	}
	if strings.TrimSpace(h.Get(token.Header)) != "" {
		return false
	}
	if autoSubmitted(h) {
		return true
	}
	for _, lm := range managers {
		if lm.looksLike(h) {
			return true
		}
	}
	return false
}

// Classify says what a message is, from its header and (for notices and
// bounces) its body. body may be nil or truncated.
//
// A person forwarding, quoting or answering a notice or a probe is
// unrelated: notices are recognised by who sent them and how (the list's
// robot addresses or MAILER-DAEMON, Auto-Submitted, the manager's own
// header fields), copies by their Message-ID or by coming from the list
// itself, never by words alone. Every text in the result is valid UTF-8.
func Classify(h mail.Header, body []byte) Evidence { return classifyWith(h, body, listManagers) }

func classifyWith(h mail.Header, body []byte, managers []listManager) Evidence {
	m := &incoming{managers: managers, h: h, body: body, sender: senderOf(h), subject: decodedSubject(h)}
	ev := classify(m)
	if ev.Kind == KindUnrelated {
		ev = Evidence{Kind: KindUnrelated}
	}
	if ev.Kind == "" {
		ev.Kind = KindUnrelated
	}
	ev.From = m.sender.address
	ev.ListID = listIDField(h)
	ev.Reason = Truncate(oneLine(ev.Reason), maxReasonLen)
	ev.List = Truncate(oneLine(ev.List), 320)
	ev.Recipient = Truncate(oneLine(ev.Recipient), 320)
	ev.ReturnPath = returnPath(h)
	if ev.Kind == KindProbeCopy {
		ev.Approved, ev.ApprovedAt = approval(h)
	}
	return ev
}

func classify(m *incoming) Evidence {
	h, s := m.h, m.sender
	mt, params := contentType(h)

	if resent(h) {
		// Someone sent this message on again (a "redirect" or "bounce" in
		// a mail client keeps From and Message-ID and adds Resent-*): it
		// is a person's act, neither the list's copy nor its notice.
		return Evidence{Kind: KindUnrelated}
	}
	if mt == "multipart/report" && s.role != "" {
		if ev, ok := managerNotice(m, true); ok {
			return ev
		}
	}
	if mt == "multipart/report" && (s.mailerDaemon || s.address == "" || autoSubmitted(h) || h.Has("X-Failed-Recipients")) {
		if ev, ok := classifyReport(m, strings.ToLower(params["report-type"])); ok {
			return bounceOfList(ev)
		}
		return Evidence{Kind: KindUnrelated}
	}
	if s.role != "" {
		if ev, ok := managerNotice(m, false); ok {
			return ev
		}
		// Other mail from a list's robot addresses (welcome messages,
		// digests, forwards of held posts) says nothing about a probe,
		// even when it carries one.
		return Evidence{Kind: KindUnrelated}
	}
	if s.mailerDaemon || h.Has("X-Failed-Recipients") {
		return bounceOfList(classifyPlainBounce(m))
	}
	if ev, ok := classifyCopy(m); ok {
		return ev
	}
	return Evidence{Kind: KindUnrelated}
}

// managerNotice asks each list manager whether its robot wrote the
// message; reports limits the question to those that write reports.
func managerNotice(m *incoming, reports bool) (Evidence, bool) {
	for _, lm := range m.managers {
		if reports && !lm.reports {
			continue
		}
		if ev, ok := lm.classify(m); ok {
			ev.Tokens = robotTokens(m.sender, ev.Tokens)
			return ev, true
		}
	}
	return Evidence{}, false
}

// resent reports Resent-* fields (RFC 5322 3.6.6): the message was
// re-introduced into the mail system by someone other than its author.
func resent(h mail.Header) bool {
	for _, key := range []string{"Resent-From", "Resent-Sender", "Resent-Message-Id", "Resent-Date"} {
		if h.Has(key) {
			return true
		}
	}
	return false
}

// robotTokens keeps the tokens of probes of the list whose robot sent the
// notice: list A's notice naming a probe of list B proves nothing about B.
func robotTokens(s sender, tokens []string) []string {
	var out []string
	for _, tok := range tokens {
		if t, err := token.Parse(tok); err == nil && s.robotOf(t.List) {
			out = append(out, tok)
		}
	}
	return out
}

// returnPath reads the Return-Path field: the envelope sender, "<>" for
// the null sender, "" when absent or unreadable.
func returnPath(h mail.Header) string {
	v := strings.TrimSpace(fieldText(h, "Return-Path"))
	if v == "" {
		return ""
	}
	if strings.Trim(v, "<> ") == "" {
		return "<>"
	}
	return Truncate(strings.ToLower(addressOf(v)), 320)
}
