package checks

import (
	"regexp"
	"strings"

	"github.com/emersion/go-message/mail"
	"github.com/listprobe/listprobe/checks/token"
)

// The notices of GNU Mailman 3 and Mailman 2.1: hold notices to the poster,
// moderator notices, refusals by a moderator, automatic rejections and the
// "no more today" limit. Mailman writes them from the list's robot
// addresses (-bounces, -owner, -request) with its own header fields, in the
// English templates of Mailman 3's chains/hold.py, app/moderator.py,
// app/bounces.py and Mailman 2.1's Handlers/Hold.py, ListAdmin.py,
// Bouncer.py.
var mailmanManager = listManager{
	name:      "mailman",
	looksLike: mailmanLooksLike,
	classify:  classifyMailman,
}

func mailmanLooksLike(h mail.Header) bool {
	if h.Has("X-List-Administrivia") {
		return true
	}
	if h.Has("X-Mailman-Version") {
		// Every post a Mailman list distributes carries the field too. A
		// post (Precedence: list, List-Post) is worth its body only when
		// its subject names a probe: a copy rewritten by wrap_message
		// carries the probe attached. Other list traffic costs no body
		// fetch.
		post := strings.EqualFold(strings.TrimSpace(h.Get("Precedence")), "list") || h.Has("List-Post")
		return !post || len(token.Find(decodedSubject(h))) > 0
	}
	subject := decodedSubject(h)
	for _, re := range []*regexp.Regexp{reHoldSubject, reModeratorSubject, reRefuseSubject, reLimitSubject} {
		if re.MatchString(subject) {
			return true
		}
	}
	return false
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
	reQuotedSubject  = regexp.MustCompile(`(?is)with\s+the\s+subject\s+(.+?)\s+Is\s+being\s+held`)
	reRefuseTitled   = regexp.MustCompile(`(?is)Posting\s+of\s+your\s+message\s+titled\s+"(.+?)"\s+has\s+been\s+rejected`)
	reDigestSubject  = regexp.MustCompile(`(?i)\bDigest\b.*(\bVol\b|\bIssue\b|\bV\d+\s*#\d+)`)
	reDigestTOC      = regexp.MustCompile(`(?im)^\s*Today's\s+Topics\b`)
	reConfirmStub    = regexp.MustCompile(`(?i)^confirm\s+[0-9a-f]+$`)
)

func classifyMailman(m *incoming) (Evidence, bool) {
	if !mailmanMachinery(m.h) {
		return Evidence{}, false
	}
	subject := m.subject
	pb := m.parsed()
	if pb.digest || reDigestSubject.MatchString(subject) || reDigestTOC.MatchString(pb.text()) {
		// A digest (from -request) carries posts, probes among them, and
		// its table of contents may say "rejected": it is no notice.
		return Evidence{}, false
	}
	n := mailmanNotice{m: m, pb: pb, text: pb.text(), version: mailmanVersion(m.h)}
	switch {
	case reHoldSubject.MatchString(subject):
		return n.hold(), true
	case reModeratorSubject.MatchString(subject):
		return n.moderatorNotice(), true
	case reRefuseSubject.MatchString(subject):
		return n.refusal(), true
	case reLimitSubject.MatchString(subject):
		return n.limit(), true
	}
	return n.automaticRejection()
}

// mailmanNotice is a message from a Mailman list's robot, being read.
type mailmanNotice struct {
	m       *incoming
	pb      *parsedBody
	text    string // the body's text parts
	version string // the manager X-Mailman-Version names; "" when absent
}

// manager names the Mailman that wrote the notice: the version the header
// names, else the one its wording says (mm3).
func (n mailmanNotice) manager(mm3 bool) string {
	if n.version != "" {
		return n.version
	}
	if mm3 {
		return ManagerMailman3
	}
	return ManagerMailman2
}

// hold reads a notice to the poster that the post awaits approval.
func (n mailmanNotice) hold() Evidence {
	s, text := n.m.sender, n.text
	ev := Evidence{Kind: KindHoldNotice, List: s.list}
	if q := reQuotedSubject.FindStringSubmatch(text); q != nil {
		ev.Tokens = quotedProbeTokens(q[1])
	}
	if m := reHoldSubject.FindStringSubmatch(n.m.subject); strings.Contains(m[1], "@") {
		ev.List = strings.ToLower(strings.TrimSpace(m[1]))
	} else if m := reHoldYourMail.FindStringSubmatch(text); m != nil && strings.Contains(m[1], "@") {
		ev.List = strings.ToLower(m[1])
	}
	// Without a reason, Mailman 3 sends it from -bounces, Mailman 2.1 from
	// -owner.
	ev.Reason, ev.Manager = n.heldReason(reMM2ReasonHeld, s.role == "bounces")
	return ev
}

// moderatorNotice reads a notice to the moderators that a post awaits
// their approval.
func (n mailmanNotice) moderatorNotice() Evidence {
	text := n.text
	m := reModeratorSubject.FindStringSubmatch(n.m.subject)
	ev := Evidence{Kind: KindModeratorNotice, List: n.m.sender.list}
	if strings.Contains(m[1], "@") {
		ev.List = strings.ToLower(strings.TrimSpace(m[1]))
	} else if lm := reMM2ListLine.FindStringSubmatch(text); lm != nil {
		ev.List = strings.ToLower(lm[1])
	}
	ev.Tokens = dedupe(append(attachedProbeTokens(n.pb), subjectLineTokens(text)...))
	ev.Reason, ev.Manager = n.heldReason(reMM2ReasonLine, true)
	return ev
}

// heldReason reads why a post is held: Mailman 3's indented list after
// "held because:", or Mailman 2.1's paragraph after mm2, its marker in
// this notice. mm3 says which Mailman wrote a notice with neither.
func (n mailmanNotice) heldReason(mm2 *regexp.Regexp, mm3 bool) (reason, manager string) {
	if loc := reMM3HeldBecause.FindStringIndex(n.text); loc != nil {
		return indentedReasons(n.text[loc[1]:]), n.manager(true)
	}
	if loc := mm2.FindStringIndex(n.text); loc != nil {
		return unwrap(firstParagraph(n.text[loc[1]:])), n.manager(false)
	}
	return "", n.manager(mm3)
}

// refusal reads a moderator's refusal of a held post (app/moderator.py
// send_rejection, ListAdmin.__refuse): 'Posting of your message titled
// "..."' names the post.
func (n mailmanNotice) refusal() Evidence {
	text := n.text
	ev := Evidence{Kind: KindRejection, List: n.m.sender.list}
	var tokens []string
	if q := reRefuseTitled.FindStringSubmatch(text); q != nil {
		tokens = quotedProbeTokens(q[1])
	}
	if m := reRefuseList.FindStringSubmatch(text); m != nil && strings.Contains(m[1], "@") {
		ev.List = strings.ToLower(m[1])
	}
	if loc := reRefuseReason.FindStringIndex(text); loc != nil {
		ev.Reason = strings.Trim(unwrap(firstParagraph(text[loc[1]:])), `"`)
	}
	ev.Tokens = dedupe(append(attachedProbeTokens(n.pb), tokens...))
	// Mailman 3 quotes the list's display name in the subject.
	ev.Manager = n.manager(strings.Contains(n.m.subject, `"`))
	return ev
}

// limit reads the notice that no more notices come today.
func (n mailmanNotice) limit() Evidence {
	ev := Evidence{Kind: KindNoticeLimit, List: n.m.sender.list}
	if m := reLimitList.FindStringSubmatch(n.text); m != nil && strings.Contains(m[1], "@") {
		ev.List = strings.ToLower(strings.TrimSuffix(m[1], "."))
	}
	ev.Manager = n.manager(strings.Contains(collapse(n.text), "The number we have seen today"))
	return ev
}

// automaticRejection reads an automatic rejection (Mailman 3 app/bounces.py
// bounce_message, Mailman 2.1 Bouncer.BounceMessage): from -owner, the
// original subject, a text notice and the post attached.
func (n mailmanNotice) automaticRejection() (Evidence, bool) {
	s, subject, text := n.m.sender, n.m.subject, n.text
	if s.role != "owner" {
		return Evidence{}, false
	}
	original := firstOriginal(n.pb)
	if original == nil || len(n.pb.texts) == 0 {
		return Evidence{}, false
	}
	sameSubject := decodedSubject(original.header) == subject
	if !sameSubject && !reMM3Rejected.MatchString(text) {
		return Evidence{}, false
	}
	ev := Evidence{Kind: KindRejection, List: s.list}
	ev.Tokens = probeHeaderTokens(original.header)
	if tok, ok := probeSubjectToken(subject); ok {
		ev.Tokens = dedupe(append(ev.Tokens, tok))
	}
	if loc := reMM3Rejected.FindStringIndex(text); loc != nil {
		rest := text[loc[1]:]
		if end := reMM3OriginalAtt.FindStringIndex(rest); end != nil {
			rest = rest[:end[0]]
		}
		ev.Reason = lineReasons(rest)
		ev.Manager = n.manager(true)
	} else {
		ev.Reason = unwrap(text)
		ev.Manager = n.manager(false)
	}
	return ev, true
}

// quotedProbeTokens returns the token of a subject a notice quotes, when it
// is a probe's subject (not a person's reply to one).
func quotedProbeTokens(quoted string) []string {
	if tok, ok := probeSubjectToken(quoted); ok {
		return []string{tok}
	}
	return nil
}

// attachedProbeTokens returns the tokens of the held or refused posts a
// notice attaches, by their own header: Mailman's "confirm" stub and
// people's messages that quote a probe name none.
func attachedProbeTokens(pb *parsedBody) []string {
	var out []string
	for _, e := range pb.attached {
		if !isConfirmStub(e.header) {
			out = append(out, probeHeaderTokens(e.header)...)
		}
	}
	return out
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
			out = append(out, quotedProbeTokens(v)...)
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
