package checks

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"io"
	"mime/quotedprintable"
	netmail "net/mail"
	"regexp"
	"strings"

	"github.com/emersion/go-message"
	"github.com/emersion/go-message/mail"
	"github.com/emersion/go-message/textproto"
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

// maxPartBytes bounds what is read of one MIME part, and maxDepth how deep
// nested multiparts are followed: the body handed to Classify is already
// bounded, these only keep a hostile message from making work out of nothing.
const (
	maxPartBytes = 1 << 20
	maxDepth     = 8
	maxParts     = 64
)

// LooksLikeNotice reports whether a message with this header may be a
// notice or a bounce, so that its body is worth fetching. It errs on the
// side of yes; probe copies say no (their header carries the token).
func LooksLikeNotice(h mail.Header) bool {
	s := senderOf(h)
	if s.mailerDaemon || s.listRole != "" {
		return true
	}
	mt, _, _ := h.ContentType()
	if strings.EqualFold(mt, "multipart/report") || h.Has("X-Failed-Recipients") {
		return true
	}
	if strings.TrimSpace(h.Get(TokenHeader)) != "" {
		return false
	}
	if autoSubmitted(h) || h.Has("X-Mailman-Version") || h.Has("X-List-Administrivia") {
		return true
	}
	subject := collapse(decodedSubject(h))
	for _, re := range []*regexp.Regexp{reHoldSubject, reModeratorSubject, reRefuseSubject, reLimitSubject} {
		if re.MatchString(subject) {
			return true
		}
	}
	return false
}

// Classify says what a message is, from its header and (for notices and
// bounces) its body. body may be nil or truncated.
//
// A person forwarding or quoting a notice is unrelated: notices are
// recognised by who sent them and how (the list's -bounces/-owner/-request
// address or MAILER-DAEMON, Auto-Submitted, the manager's own header
// fields), not by their words alone.
func Classify(h mail.Header, body []byte) Evidence {
	ev := classify(h, body)
	ev.Reason = truncate(ev.Reason, maxReasonLen)
	return ev
}

// maxReasonLen bounds Evidence.Reason: real reasons are a line or two, and
// the reason ends up in logs, JSON output and the status page.
const maxReasonLen = 1000

func classify(h mail.Header, body []byte) Evidence {
	s := senderOf(h)
	mt, params, _ := h.ContentType()
	mt = strings.ToLower(mt)

	if mt == "multipart/report" && (s.mailerDaemon || s.address == "" || autoSubmitted(h) || h.Has("X-Failed-Recipients")) {
		if ev, ok := classifyReport(h, parseBody(h, body), strings.ToLower(params["report-type"])); ok {
			return ev
		}
		return Evidence{Kind: KindUnrelated}
	}
	if s.listRole != "" {
		if mailmanMachinery(h) {
			if ev, ok := classifyMailman(h, s, parseBody(h, body)); ok {
				return ev
			}
		}
		// Other mail from a list's robot addresses (welcome messages,
		// forwards of held posts, digests of requests) says nothing about a
		// probe, even when it carries one.
		return Evidence{Kind: KindUnrelated}
	}
	if s.mailerDaemon || h.Has("X-Failed-Recipients") {
		return classifyPlainBounce(h, parseBody(h, body))
	}
	if tokens := probeCopyTokens(h); len(tokens) > 0 {
		return Evidence{Kind: KindProbeCopy, List: probeCopyList(h, tokens[0]), Tokens: tokens}
	}
	return Evidence{Kind: KindUnrelated}
}

// OriginalMessageIDs returns the Message-IDs (with angle brackets) of the
// original messages that a notice or bounce carries: attached or returned
// messages, text/rfc822-headers parts and an MDN's Original-Message-ID. It
// lets a caller match a bounce whose returned copy lost the probe's own
// header. Mailman's "confirm" stub attached to moderator notices is left out.
func OriginalMessageIDs(h mail.Header, body []byte) []string {
	pb := parseBody(h, body)
	var out []string
	seen := map[string]bool{}
	add := func(id string) {
		id = strings.TrimSpace(id)
		if id == "" || seen[id] {
			return
		}
		seen[id] = true
		out = append(out, id)
	}
	for _, e := range pb.attached {
		if isConfirmStub(e.header) {
			continue
		}
		if ids, err := e.header.MsgIDList("Message-Id"); err == nil {
			for _, id := range ids {
				add("<" + id + ">")
			}
		} else {
			add(e.header.Get("Message-Id"))
		}
	}
	for _, block := range append(pb.reports, pb.mdn...) {
		for _, f := range block {
			if f.key == "original-message-id" {
				add(f.value)
			}
		}
	}
	return out
}

// sender is what the From field says about who wrote a message.
type sender struct {
	address      string // lower-case address, "" when there is none
	mailerDaemon bool   // MAILER-DAEMON, postmaster: a mail server writing about delivery
	listRole     string // the list's posting address when From is one of its robots (-owner, -bounces, -request, -admin)
}

var reAddress = regexp.MustCompile(`[^\s<>"(),;:@]+@[^\s<>"(),;:@]+`)

func senderOf(h mail.Header) sender {
	var s sender
	raw := h.Get("From")
	if addrs, err := h.AddressList("From"); err == nil && len(addrs) > 0 {
		s.address = strings.ToLower(addrs[0].Address)
	} else if m := reAddress.FindString(raw); m != "" {
		s.address = strings.ToLower(m)
	}
	local, domain, _ := strings.Cut(s.address, "@")
	if f := strings.Fields(raw); s.address == "" && len(f) > 0 {
		// "From: MAILER-DAEMON (Mail Delivery System)" without a domain, as
		// some servers write it.
		local = strings.ToLower(strings.Trim(f[0], "<>\""))
	}
	switch local {
	case "mailer-daemon", "mailerdaemon", "mailer_daemon", "postmaster", "mdaemon":
		s.mailerDaemon = true
	}
	if domain != "" {
		if i := strings.IndexByte(local, '+'); i > 0 {
			local = local[:i] // VERP: list-bounces+probe=example.org
		}
		for _, suffix := range []string{"-bounces", "-owner", "-request", "-admin"} {
			if base, ok := strings.CutSuffix(local, suffix); ok && base != "" {
				s.listRole = base + "@" + domain
				break
			}
		}
	}
	return s
}

// autoSubmitted reports an RFC 3834 Auto-Submitted field other than "no".
func autoSubmitted(h mail.Header) bool {
	v := strings.ToLower(strings.TrimSpace(h.Get("Auto-Submitted")))
	return v != "" && !strings.HasPrefix(v, "no")
}

// mailmanMachinery reports the header fields Mailman puts on the mail it
// writes itself: X-Mailman-Version (both versions, added by its
// cook-headers handler), X-List-Administrivia (Mailman 2.1) and
// Precedence: bulk (set on every UserNotification).
func mailmanMachinery(h mail.Header) bool {
	if h.Has("X-Mailman-Version") || strings.EqualFold(strings.TrimSpace(h.Get("X-List-Administrivia")), "yes") {
		return true
	}
	switch strings.ToLower(strings.TrimSpace(h.Get("Precedence"))) {
	case "bulk", "list", "junk":
		return true
	}
	return autoSubmitted(h)
}

func mailmanVersion(h mail.Header) string {
	v := strings.TrimSpace(h.Get("X-Mailman-Version"))
	switch {
	case strings.HasPrefix(v, "2."):
		return ManagerMailman2
	case strings.HasPrefix(v, "3."):
		return ManagerMailman3
	}
	return ""
}

// The subjects Mailman gives its notices (English templates of Mailman 3's
// chains/hold.py, app/moderator.py and Mailman 2.1's Handlers/Hold.py,
// ListAdmin.py), matched after unfolding and collapsing white space.
var (
	reHoldSubject      = regexp.MustCompile(`(?i)^Your message to (.+?) awaits moderator approval$`)
	reModeratorSubject = regexp.MustCompile(`(?i)^(.+?) post from (\S+) requires approval$`)
	reRefuseSubject    = regexp.MustCompile(`(?i)^Request to mailing list "?(.+?)"? rejected$`)
	reLimitSubject     = regexp.MustCompile(`(?i)^Last autoresponse notification for today$`)
)

// Markers in the notice texts. White space is matched loosely because
// Mailman refills paragraphs.
var (
	reMM3HeldBecause = regexp.MustCompile(`(?i)The\s+message\s+is\s+being\s+held\s+because:`)
	reMM2ReasonHeld  = regexp.MustCompile(`(?i)The\s+reason\s+it\s+is\s+being\s+held:`)
	reMM2ReasonLine  = regexp.MustCompile(`(?im)^[ \t]*Reason:[ \t]*`)
	reMM2ListLine    = regexp.MustCompile(`(?im)^[ \t]*List:[ \t]*(\S+@\S+)[ \t]*$`)
	reMM3Rejected    = regexp.MustCompile(`(?i)was\s+rejected\s+for\s+the\s+following\s+reasons:`)
	reMM3OriginalAtt = regexp.MustCompile(`(?i)The\s+original\s+message\s+as\s+received\s+by\s+Mailman\s+is\s+attached\.`)
	reRefuseReason   = regexp.MustCompile(`(?i)following\s+reason\s+for\s+rejecting\s+your\s+request:`)
	reRefuseList     = regexp.MustCompile(`(?i)Your\s+request\s+to\s+the\s+(\S+)\s+mailing\s+list`)
	reHoldYourMail   = regexp.MustCompile(`(?i)Your\s+mail\s+to\s+'([^']+)'\s+with\s+the\s+subject`)
	reLimitList      = regexp.MustCompile(`(?i)automated\s+response\s+from\s+the\s+(\S+)\s+mailing\s+list`)
	reRejectedWord   = regexp.MustCompile(`(?i)\brejected\b`)
	reSubjectTag     = regexp.MustCompile(`^\s*\[[^\]]*\]\s*`)
	reReplyPrefix    = regexp.MustCompile(`(?i)^\s*(re|fwd?|aw|wg|sv|vs|antw|tr|rif|odp|ynt)\s*(\[\d+\])?\s*:`)
	reSMTPReply      = regexp.MustCompile(`\b[45]\d\d[ -]|\b[45]\.\d{1,3}\.\d{1,3}\b`)
	reAngleRecipient = regexp.MustCompile(`(?m)^\s*<([^>\s]+@[^>\s]+)>:`)
	reDelayWarning   = regexp.MustCompile(`(?i)\b(delayed|delay|warning)\b`)
	reCopyOfMessage  = regexp.MustCompile(`(?im)^.*(copy of the message|below this line|original message follows|returned message|message headers follow).*$`)
	reDiagnosticType = regexp.MustCompile(`^(?i)[a-z0-9-]+\s*;\s*`)
	reConfirmStub    = regexp.MustCompile(`(?i)^confirm\s+[0-9a-f]+$`)
)

func classifyMailman(h mail.Header, s sender, pb *parsedBody) (Evidence, bool) {
	subject := collapse(decodedSubject(h))
	text := pb.text()
	manager := mailmanVersion(h)
	guess := func(mm3 bool) string {
		if manager != "" {
			return manager
		}
		if mm3 {
			return ManagerMailman3
		}
		return ManagerMailman2
	}
	switch {
	case reHoldSubject.MatchString(subject):
		ev := Evidence{Kind: KindHoldNotice, List: s.listRole, Tokens: FindTokens(text)}
		if m := reHoldSubject.FindStringSubmatch(subject); strings.Contains(m[1], "@") {
			ev.List = strings.ToLower(strings.TrimSpace(m[1]))
		} else if m := reHoldYourMail.FindStringSubmatch(text); m != nil && strings.Contains(m[1], "@") {
			ev.List = strings.ToLower(m[1])
		}
		if loc := reMM3HeldBecause.FindStringIndex(text); loc != nil {
			ev.Reason = indentedReasons(text[loc[1]:])
			ev.Manager = guess(true)
		} else if loc := reMM2ReasonHeld.FindStringIndex(text); loc != nil {
			ev.Reason = unwrap(firstParagraph(text[loc[1]:]))
			ev.Manager = guess(false)
		} else {
			// Mailman 3 sends it from -bounces, Mailman 2.1 from -owner.
			ev.Manager = guess(strings.Contains(h.Get("From"), "-bounces"))
		}
		return ev, true

	case reModeratorSubject.MatchString(subject):
		m := reModeratorSubject.FindStringSubmatch(subject)
		ev := Evidence{Kind: KindModeratorNotice, List: s.listRole}
		if strings.Contains(m[1], "@") {
			ev.List = strings.ToLower(strings.TrimSpace(m[1]))
		} else if lm := reMM2ListLine.FindStringSubmatch(text); lm != nil {
			ev.List = strings.ToLower(lm[1])
		}
		var tokens []string
		for _, e := range pb.attached {
			if !isConfirmStub(e.header) {
				tokens = append(tokens, headerTokens(e.header)...)
			}
		}
		ev.Tokens = dedupe(append(tokens, subjectLineTokens(text)...))
		if loc := reMM3HeldBecause.FindStringIndex(text); loc != nil {
			ev.Reason = indentedReasons(text[loc[1]:])
			ev.Manager = guess(true)
		} else if loc := reMM2ReasonLine.FindStringIndex(text); loc != nil {
			ev.Reason = unwrap(firstParagraph(text[loc[1]:]))
			ev.Manager = guess(false)
		} else {
			ev.Manager = guess(true)
		}
		return ev, true

	case reRefuseSubject.MatchString(subject):
		// A moderator refused a held post (app/moderator.py send_rejection,
		// ListAdmin.__refuse): the quoted subject names the post.
		ev := Evidence{Kind: KindRejection, List: s.listRole, Tokens: FindTokens(text)}
		if m := reRefuseList.FindStringSubmatch(text); m != nil && strings.Contains(m[1], "@") {
			ev.List = strings.ToLower(m[1])
		}
		if loc := reRefuseReason.FindStringIndex(text); loc != nil {
			ev.Reason = strings.Trim(unwrap(firstParagraph(text[loc[1]:])), `"`)
		}
		var tokens []string
		for _, e := range pb.attached {
			tokens = append(tokens, headerTokens(e.header)...)
		}
		ev.Tokens = dedupe(append(tokens, ev.Tokens...))
		// Mailman 3 quotes the list's display name in the subject.
		ev.Manager = guess(strings.Contains(subject, `"`))
		return ev, true

	case reLimitSubject.MatchString(subject):
		ev := Evidence{Kind: KindNoticeLimit, List: s.listRole}
		if m := reLimitList.FindStringSubmatch(text); m != nil && strings.Contains(m[1], "@") {
			ev.List = strings.ToLower(strings.TrimSuffix(m[1], "."))
		}
		ev.Manager = guess(strings.Contains(collapse(text), "The number we have seen today"))
		return ev, true
	}

	// An automatic rejection (Mailman 3 app/bounces.py bounce_message,
	// Mailman 2.1 Bouncer.BounceMessage): from -owner, the original
	// subject, a text notice and the post attached.
	original := firstOriginal(pb)
	if original == nil || len(pb.texts) == 0 {
		return Evidence{}, false
	}
	sameSubject := collapse(decodedSubject(original.header)) == subject
	if !sameSubject && !reRejectedWord.MatchString(text) {
		return Evidence{}, false
	}
	ev := Evidence{Kind: KindRejection, List: s.listRole}
	ev.Tokens = dedupe(append(headerTokens(original.header), subjectTokens(subject)...))
	if loc := reMM3Rejected.FindStringIndex(text); loc != nil {
		rest := text[loc[1]:]
		if end := reMM3OriginalAtt.FindStringIndex(rest); end != nil {
			rest = rest[:end[0]]
		}
		ev.Reason = lineReasons(rest)
		ev.Manager = guess(true)
	} else {
		ev.Reason = unwrap(text)
		ev.Manager = guess(false)
	}
	return ev, true
}

// indentedReasons reads Mailman 3's $reasons block: each reason starts on a
// line indented by four spaces, and its wrapped continuation lines are not
// indented. The block ends at the first blank line after it starts.
func indentedReasons(rest string) string {
	var reasons [][]string
	started := false
	for _, line := range strings.Split(rest, "\n") {
		if strings.TrimSpace(line) == "" {
			if started {
				break
			}
			continue
		}
		if !started || line[0] == ' ' || line[0] == '\t' {
			reasons = append(reasons, []string{strings.TrimSpace(line)})
		} else {
			reasons[len(reasons)-1] = append(reasons[len(reasons)-1], strings.TrimSpace(line))
		}
		started = true
	}
	return joinReasons(reasons)
}

// joinReasons unwraps each reason's lines and joins the reasons with "; ".
func joinReasons(reasons [][]string) string {
	out := make([]string, len(reasons))
	for i, lines := range reasons {
		out[i] = unwrap(strings.Join(lines, "\n"))
	}
	return strings.Join(out, "; ")
}

// lineReasons reads the reasons of Mailman 3's rejection notice, one per
// line without indentation; a line that starts in lower case, or follows a
// long line that does not end a sentence, continues the reason before it
// (Mailman wraps long reasons).
func lineReasons(rest string) string {
	var reasons [][]string
	prev := ""
	for _, line := range strings.Split(rest, "\n") {
		t := strings.TrimSpace(line)
		if t == "" {
			prev = ""
			continue
		}
		first := t[0]
		newReason := prev == "" || (first >= 'A' && first <= 'Z' && (len(prev) < 60 || strings.HasSuffix(prev, ".")))
		if newReason || len(reasons) == 0 {
			reasons = append(reasons, []string{t})
		} else {
			reasons[len(reasons)-1] = append(reasons[len(reasons)-1], t)
		}
		prev = t
	}
	return joinReasons(reasons)
}

// firstParagraph returns the first run of non-blank lines in rest.
func firstParagraph(rest string) string {
	var b strings.Builder
	started := false
	for _, line := range strings.Split(rest, "\n") {
		if strings.TrimSpace(line) == "" {
			if started {
				break
			}
			continue
		}
		started = true
		b.WriteString(line)
		b.WriteByte('\n')
	}
	return b.String()
}

// subjectLineTokens finds the tokens in a notice's "Subject:" line (the
// moderator notice quotes the held post's subject there).
func subjectLineTokens(text string) []string {
	var out []string
	for _, line := range strings.Split(text, "\n") {
		t := strings.TrimSpace(line)
		if v, ok := strings.CutPrefix(t, "Subject:"); ok {
			out = append(out, subjectTokens(v)...)
		}
	}
	return out
}

func isConfirmStub(h mail.Header) bool {
	return reConfirmStub.MatchString(collapse(decodedSubject(h)))
}

// firstOriginal returns the first attached message that is not Mailman's
// "confirm" stub.
func firstOriginal(pb *parsedBody) *attachedMessage {
	for i := range pb.attached {
		if !isConfirmStub(pb.attached[i].header) {
			return &pb.attached[i]
		}
	}
	return nil
}

// classifyReport reads a multipart/report from a mail server.
func classifyReport(h mail.Header, pb *parsedBody, reportType string) (Evidence, bool) {
	switch {
	case reportType == "disposition-notification" || (reportType == "" && len(pb.reports) == 0 && len(pb.mdn) > 0):
		return classifyMDN(h, pb)
	case reportType != "" && reportType != "delivery-status" && reportType != "global-delivery-status":
		// Abuse feedback (ARF), TLS reports and the like are no bounces.
		return Evidence{}, false
	}
	var failed []reportBlock
	recipients := 0
	for _, block := range pb.reports {
		action := strings.ToLower(block.get("action"))
		status := block.get("status")
		if action == "" && status == "" {
			continue // the per-message block, or a recipient's cut short
		}
		recipients++
		if strings.HasPrefix(action, "failed") || action == "" && strings.HasPrefix(status, "5") {
			failed = append(failed, block)
		}
	}
	if len(failed) == 0 && recipients > 0 {
		// Delay warnings ("delayed") and success reports ("delivered",
		// "relayed", "expanded") say nothing final. A report whose
		// recipient blocks were cut off is still a bounce.
		return Evidence{}, false
	}
	ev := Evidence{Kind: KindBounce, Manager: ManagerDSN}
	var finalRecipient string
	if len(failed) > 0 {
		b := failed[0]
		finalRecipient = addressOf(b.get("final-recipient"))
		if diag := b.get("diagnostic-code"); diag != "" {
			ev.Reason = collapse(reDiagnosticType.ReplaceAllString(diag, ""))
		} else {
			ev.Reason = collapse(strings.TrimSpace(b.get("status") + " " + truncate(collapse(pb.text()), 300)))
		}
	}
	if ev.Reason == "" {
		ev.Reason = truncate(collapse(pb.text()), 300)
	}
	ev.Tokens, ev.List = returnedTokens(h, pb)
	if ev.List == "" {
		ev.List = finalRecipient
	}
	return ev, true
}

// classifyMDN reads a message disposition notification: Dovecot's LDA and
// Sieve "reject" send one (Disposition: ...; deleted) when they refuse a
// message. A reader's "displayed" receipt is not a rejection.
func classifyMDN(h mail.Header, pb *parsedBody) (Evidence, bool) {
	var disposition string
	for _, block := range pb.mdn {
		if d := block.get("disposition"); d != "" {
			disposition = strings.ToLower(d)
		}
	}
	if !strings.Contains(disposition, "deleted") && !strings.Contains(disposition, "denied") {
		return Evidence{}, false
	}
	ev := Evidence{Kind: KindBounce, Manager: ManagerDSN, Reason: truncate(collapse(pb.text()), 300)}
	ev.Tokens, ev.List = returnedTokens(h, pb)
	var extra []string
	for _, block := range pb.mdn {
		extra = append(extra, FindTokens(block.get("original-message-id"))...)
		if ev.List == "" {
			ev.List = addressOf(block.get("final-recipient"))
		}
	}
	ev.Tokens = dedupe(append(ev.Tokens, extra...))
	return ev, true
}

// classifyPlainBounce reads a bounce that is not an RFC 3464 report: the
// text explains, and a copy of the message follows it inline or attached.
func classifyPlainBounce(h mail.Header, pb *parsedBody) Evidence {
	subject := collapse(decodedSubject(h))
	if !h.Has("X-Failed-Recipients") && reDelayWarning.MatchString(subject) {
		return Evidence{Kind: KindUnrelated}
	}
	text := pb.text()
	explanation := text
	if loc := reCopyOfMessage.FindStringIndex(text); loc != nil {
		explanation = text[:loc[0]]
	}
	ev := Evidence{Kind: KindBounce, Manager: ManagerMTA}
	ev.Reason = smtpReason(explanation)
	if ev.Reason == "" {
		ev.Reason = subject
	}
	tokens, list := returnedTokens(h, pb)
	ev.Tokens = dedupe(append(tokens, FindTokens(text)...))
	switch {
	case list != "":
		ev.List = list
	case h.Get("X-Failed-Recipients") != "":
		ev.List = addressOf(strings.Split(h.Get("X-Failed-Recipients"), ",")[0])
	default:
		if m := reAngleRecipient.FindStringSubmatch(explanation); m != nil {
			ev.List = strings.ToLower(m[1])
		}
	}
	return ev
}

// smtpReason returns the first line of text that carries an SMTP reply or
// enhanced status code, with the indented lines that continue it.
func smtpReason(text string) string {
	lines := strings.Split(text, "\n")
	for i, line := range lines {
		if !reSMTPReply.MatchString(line) {
			continue
		}
		parts := []string{strings.TrimSpace(line)}
		indent := leadingSpace(line)
		for _, next := range lines[i+1:] {
			if strings.TrimSpace(next) == "" || leadingSpace(next) <= indent {
				break
			}
			parts = append(parts, strings.TrimSpace(next))
		}
		return collapse(strings.Join(parts, " "))
	}
	return ""
}

func leadingSpace(s string) int {
	return len(s) - len(strings.TrimLeft(s, " \t"))
}

// returnedTokens finds the tokens of the message a bounce returns (its own
// header, Message-ID and subject, then its body), the outer
// In-Reply-To/References that some servers set, and the list it was posted
// to (the returned message's To).
func returnedTokens(h mail.Header, pb *parsedBody) (tokens []string, list string) {
	for _, e := range pb.attached {
		tokens = append(tokens, headerTokens(e.header)...)
		if list == "" {
			if addrs, err := e.header.AddressList("To"); err == nil && len(addrs) > 0 {
				list = strings.ToLower(addrs[0].Address)
			}
		}
	}
	tokens = append(tokens, FindTokens(h.Get("In-Reply-To")+" "+h.Get("References"))...)
	for _, e := range pb.attached {
		tokens = append(tokens, FindTokens(string(e.body))...)
	}
	return dedupe(tokens), list
}

// headerTokens returns the tokens an original message carries in its
// header: the token field, the Message-ID, and the subject unless the
// subject is a reply's.
func headerTokens(h mail.Header) []string {
	var out []string
	out = append(out, FindTokens(h.Get(TokenHeader))...)
	out = append(out, FindTokens(h.Get("Message-Id"))...)
	out = append(out, subjectTokens(decodedSubject(h))...)
	return dedupe(out)
}

// subjectTokens returns the tokens in a subject, none when the subject is a
// reply or a forward ("Re: [list] listprobe delivery test ..."): a person
// answering a probe copies its subject, which makes that answer no evidence.
func subjectTokens(subject string) []string {
	s := subject
	for i := 0; i < 4; i++ {
		s = reSubjectTag.ReplaceAllString(s, "")
		if reReplyPrefix.MatchString(s) {
			return nil
		}
	}
	return FindTokens(subject)
}

// probeCopyTokens returns the tokens of a message that is a copy of a
// probe: in its own header field or its Message-ID, or in a subject that is
// not a reply's when the message replies to nothing that carries a token.
func probeCopyTokens(h mail.Header) []string {
	var out []string
	out = append(out, FindTokens(h.Get(TokenHeader))...)
	out = append(out, FindTokens(h.Get("Message-Id"))...)
	if len(out) == 0 && len(FindTokens(h.Get("In-Reply-To")+" "+h.Get("References"))) > 0 {
		return nil
	}
	out = append(out, subjectTokens(decodedSubject(h))...)
	return dedupe(out)
}

// probeCopyList names the list a probe copy came through: List-Post, then
// the To or Cc address the token claims, then List-Id read as
// name.host (the form Mailman uses), then the first To address.
func probeCopyList(h mail.Header, token string) string {
	if lp := h.Get("List-Post"); lp != "" {
		if i := strings.Index(strings.ToLower(lp), "mailto:"); i >= 0 {
			addr := lp[i+len("mailto:"):]
			if j := strings.IndexAny(addr, ">?, \t"); j >= 0 {
				addr = addr[:j]
			}
			if strings.Contains(addr, "@") {
				return strings.ToLower(addr)
			}
		}
	}
	var recipients []string
	for _, key := range []string{"To", "Cc"} {
		if addrs, err := h.AddressList(key); err == nil {
			for _, a := range addrs {
				recipients = append(recipients, strings.ToLower(a.Address))
			}
		}
	}
	if t, err := ParseToken(token); err == nil {
		for _, r := range recipients {
			if r == t.List {
				return r
			}
		}
	}
	if id := h.Get("List-Id"); id != "" {
		if i := strings.LastIndexByte(id, '<'); i >= 0 {
			id = id[i+1:]
		}
		id = strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(id), ">"))
		if name, host, ok := strings.Cut(id, "."); ok && name != "" && host != "" {
			return strings.ToLower(name + "@" + host)
		}
	}
	if len(recipients) > 0 {
		return recipients[0]
	}
	return ""
}

func decodedSubject(h mail.Header) string {
	s, err := h.Subject()
	if err != nil {
		return h.Get("Subject")
	}
	return s
}

// addressOf reads the address out of "rfc822; user@example.org" or
// "<user@example.org>".
func addressOf(v string) string {
	if i := strings.IndexByte(v, ';'); i >= 0 {
		v = v[i+1:]
	}
	v = strings.TrimSpace(v)
	if a, err := netmail.ParseAddress(v); err == nil {
		return strings.ToLower(a.Address)
	}
	return strings.ToLower(reAddress.FindString(v))
}

// collapse joins the words of s with single spaces: Mailman and MTAs wrap
// their text, and the wrapping carries no meaning.
func collapse(s string) string {
	return strings.Join(strings.Fields(s), " ")
}

var reHyphenBreak = regexp.MustCompile(`(\w)-\n[ \t]*(\w)`)

// unwrap is collapse for wrapped prose: Python's textwrap, which Mailman
// uses, also breaks lines after the hyphen of "test-owner".
func unwrap(s string) string {
	return collapse(reHyphenBreak.ReplaceAllString(s, "$1-$2"))
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return strings.TrimSpace(s[:n]) + "..."
}

func dedupe(in []string) []string {
	var out []string
	seen := map[string]bool{}
	for _, s := range in {
		if !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	return out
}

// parsedBody is what Classify reads of a body: the text of the notice
// itself, the messages it attaches or returns, and the fields of delivery
// status and disposition reports.
type parsedBody struct {
	texts    []string // text/plain parts outside attached messages, with \n line ends
	attached []attachedMessage
	reports  []reportBlock // message/delivery-status field blocks, in order
	mdn      []reportBlock // message/disposition-notification field blocks
}

func (pb *parsedBody) text() string {
	return strings.Join(pb.texts, "\n\n")
}

// attachedMessage is a message/rfc822 part or a text/rfc822-headers part.
type attachedMessage struct {
	header mail.Header
	body   []byte // the raw body; nil for headers only
}

type reportField struct{ key, value string }

// reportBlock is one group of fields in a delivery status report (RFC
// 3464): the per-message block or one recipient's.
type reportBlock []reportField

func (b reportBlock) get(key string) string {
	for _, f := range b {
		if f.key == key {
			return f.value
		}
	}
	return ""
}

// parseBody reads body under header h. It never fails: a truncated or
// malformed body yields what could be read.
func parseBody(h mail.Header, body []byte) *parsedBody {
	pb := &parsedBody{}
	if len(body) == 0 {
		return pb
	}
	hdr := message.Header{Header: h.Header.Header.Copy()}
	mt, _, _ := hdr.ContentType()
	mt = strings.ToLower(mt)
	if !hdr.Has("Content-Transfer-Encoding") && (mt == "" || strings.HasPrefix(mt, "text/")) {
		// Mailbox fetches only a few header fields, and
		// Content-Transfer-Encoding is not always among them: Mailman 3
		// writes its utf-8 notices in base64.
		body = sniffTransferEncoding(body)
	}
	e, err := message.New(hdr, bytes.NewReader(body))
	if e == nil || (err != nil && !message.IsUnknownCharset(err) && !message.IsUnknownEncoding(err)) {
		pb.texts = append(pb.texts, normalizeNL(string(body)))
		return pb
	}
	parts := 0
	pb.walk(e, 0, &parts)
	return pb
}

func (pb *parsedBody) walk(e *message.Entity, depth int, parts *int) {
	*parts++
	if depth > maxDepth || *parts > maxParts {
		return
	}
	mt, params, _ := e.Header.ContentType()
	mt = strings.ToLower(mt)
	if mr := e.MultipartReader(); mr != nil {
		if params["boundary"] == "" {
			return
		}
		for {
			p, err := mr.NextPart()
			if p == nil || (err != nil && !message.IsUnknownCharset(err) && !message.IsUnknownEncoding(err)) {
				return // io.EOF, or a truncated or broken body: keep what was read
			}
			pb.walk(p, depth+1, parts)
		}
	}
	data, _ := io.ReadAll(io.LimitReader(e.Body, maxPartBytes))
	switch mt {
	case "message/rfc822", "message/global":
		pb.attached = append(pb.attached, readAttached(data, false))
	case "text/rfc822-headers", "message/global-headers":
		pb.attached = append(pb.attached, readAttached(data, true))
	case "message/delivery-status", "message/global-delivery-status":
		pb.reports = append(pb.reports, readReportBlocks(data)...)
	case "message/disposition-notification", "message/global-disposition-notification":
		pb.mdn = append(pb.mdn, readReportBlocks(data)...)
	case "", "text/plain":
		pb.texts = append(pb.texts, normalizeNL(string(data)))
	}
}

// readAttached parses an attached message or header block.
func readAttached(data []byte, headersOnly bool) attachedMessage {
	br := bufio.NewReader(bytes.NewReader(data))
	th, err := textproto.ReadHeader(br)
	if err != nil && th.Len() == 0 {
		// A header cut short (a truncated body): read what is there.
		th, _ = textproto.ReadHeader(bufio.NewReader(io.MultiReader(bytes.NewReader(data), strings.NewReader("\r\n\r\n"))))
	}
	am := attachedMessage{header: mail.Header{Header: message.Header{Header: th}}}
	if !headersOnly {
		rest, _ := io.ReadAll(br)
		am.body = rest
	}
	return am
}

// readReportBlocks splits a delivery status or disposition report into its
// blocks of fields, unfolding continuation lines. Keys are lower-cased.
func readReportBlocks(data []byte) []reportBlock {
	var blocks []reportBlock
	var cur reportBlock
	var value []string // the lines of the last field of cur
	flushField := func() {
		if len(cur) > 0 && len(value) > 1 {
			cur[len(cur)-1].value = strings.Join(value, " ")
		}
		value = nil
	}
	for _, line := range strings.Split(normalizeNL(string(data)), "\n") {
		if strings.TrimSpace(line) == "" {
			flushField()
			if len(cur) > 0 {
				blocks = append(blocks, cur)
				cur = nil
			}
			continue
		}
		if (line[0] == ' ' || line[0] == '\t') && len(cur) > 0 {
			value = append(value, strings.TrimSpace(line))
			continue
		}
		k, v, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		flushField()
		cur = append(cur, reportField{key: strings.ToLower(strings.TrimSpace(k)), value: strings.TrimSpace(v)})
		value = []string{cur[len(cur)-1].value}
	}
	flushField()
	if len(cur) > 0 {
		blocks = append(blocks, cur)
	}
	return blocks
}

var (
	reBase64Line = regexp.MustCompile(`^[A-Za-z0-9+/]{1,200}={0,2}$`)
	reQPEscape   = regexp.MustCompile(`=[0-9A-F]{2}`)
)

// sniffTransferEncoding decodes a body whose Content-Transfer-Encoding is
// unknown when it is plainly base64 or quoted-printable, and returns it
// unchanged otherwise.
func sniffTransferEncoding(body []byte) []byte {
	text := strings.TrimSpace(normalizeNL(string(body)))
	lines := strings.Split(text, "\n")
	if len(lines) > 0 && text != "" {
		isBase64 := true
		for i, l := range lines {
			l = strings.TrimSpace(l)
			if !reBase64Line.MatchString(l) || (i < len(lines)-1 && len(l)%4 != 0) {
				isBase64 = false
				break
			}
		}
		if isBase64 {
			if dec, err := base64.StdEncoding.DecodeString(strings.Join(strings.Fields(text), "")); err == nil && isMostlyText(dec) {
				return dec
			}
		}
	}
	softBreak := strings.Contains(string(body), "=\n") || strings.Contains(string(body), "=\r\n")
	if softBreak && reQPEscape.Match(body) {
		if dec, err := io.ReadAll(quotedprintable.NewReader(bytes.NewReader(body))); err == nil {
			return dec
		}
	}
	return body
}

func isMostlyText(b []byte) bool {
	if len(b) == 0 {
		return false
	}
	bad := 0
	for _, c := range b {
		if c < 0x20 && c != '\n' && c != '\r' && c != '\t' {
			bad++
		}
	}
	return bad*50 < len(b)
}

func normalizeNL(s string) string {
	s = strings.ReplaceAll(s, "\r\n", "\n")
	return strings.ReplaceAll(s, "\r", "\n")
}
