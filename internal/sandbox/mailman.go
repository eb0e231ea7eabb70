package sandbox

// This file reproduces what Mailman 3.3 writes, from its source:
// handlers/cook_headers.py, subject_prefix.py, rfc_2369.py, decorate.py;
// chains/accept.py, hold.py, reject.py; app/bounces.py (bounce_message);
// email/message.py (UserNotification); pipelines/virgin.py; the en
// templates list:user:notice:hold, list:user:notice:rejected,
// list:user:notice:no-more-today and list:member:regular:footer; and
// utilities/string.py (expand, wrap). Where a client can tell, the bytes
// are the same; what a client cannot tell (queues, the database) is not
// simulated.

import (
	"bytes"
	"crypto/rand"
	"crypto/sha1"
	"encoding/base32"
	"fmt"
	"math/big"
	"mime"
	"os"
	"regexp"
	"strings"
	"time"
	"unicode"
)

// MailmanVersion is the version the simulated lists announce in
// X-Mailman-Version.
const MailmanVersion = "3.3.8"

// DefaultHoldReason is Mailman's moderation reason when a member's
// moderation action is hold (rules/moderation.py), the reason of the real
// incident where every member post was held.
const DefaultHoldReason = "The message comes from a moderated member"

// listNames are the addresses and names Mailman derives from a list's
// posting address.
type listNames struct {
	fqdn        string // posting address, lower case
	local       string // list_name
	domain      string // mail_host
	displayName string // list_name capitalised, Mailman's default
	listID      string // list_name.mail_host
}

func newListNames(address string) listNames {
	address = strings.ToLower(address)
	local, domain, _ := strings.Cut(address, "@")
	return listNames{fqdn: address, local: local, domain: domain, displayName: pyCapitalize(local), listID: local + "." + domain}
}

func (n listNames) sub(suffix string) string { return n.local + "-" + suffix + "@" + n.domain }
func (n listNames) bounces() string          { return n.sub("bounces") }
func (n listNames) owner() string            { return n.sub("owner") }
func (n listNames) request() string          { return n.sub("request") }
func (n listNames) join() string             { return n.sub("join") }
func (n listNames) leave() string            { return n.sub("leave") }
func (n listNames) subjectPrefix() string    { return "[" + n.displayName + "] " }

// pyCapitalize is Python's str.capitalize: first character upper case, the
// rest lower case.
func pyCapitalize(s string) string {
	r := []rune(strings.ToLower(s))
	if len(r) > 0 {
		r[0] = unicode.ToUpper(r[0])
	}
	return string(r)
}

// The rules of Mailman's built-in posting chain (chains/builtin.py) in
// order, as they appear in X-Mailman-Rule-Misses.
var (
	rulesBeforeMemberModeration = []string{"dmarc-mitigation", "no-senders", "approved", "emergency", "loop", "banned-address"}
	rulesAfterMemberModeration  = []string{"nonmember-moderation", "administrivia", "implicit-dest", "max-recipients", "max-size", "news-moderation", "no-subject", "suspicious-header"}
)

// messageIDHash is utilities/email.py add_message_hash: base32 of the SHA-1
// of the Message-ID without angle brackets.
func messageIDHash(messageID string) string {
	id := strings.TrimSpace(messageID)
	if strings.HasPrefix(id, "<") && strings.HasSuffix(id, ">") {
		id = id[1 : len(id)-1]
	}
	sum := sha1.Sum([]byte(id))
	return base32.StdEncoding.EncodeToString(sum[:])
}

// incoming adds what Mailman's LMTP runner adds to every post it receives.
func incoming(m *rawMessage, envelopeFrom string) {
	m.add("X-MailFrom", envelopeFrom)
	if id := m.get("Message-ID"); id != "" {
		h := messageIDHash(id)
		m.del("Message-ID-Hash")
		m.add("Message-ID-Hash", h)
		m.del("X-Message-ID-Hash")
		m.add("X-Message-ID-Hash", h)
	}
}

// markRules adds the rule headers the hold, reject and accept chains add:
// X-Mailman-Rule-Hits and X-Mailman-Rule-Misses, each only when not empty.
func markRules(m *rawMessage, hits, misses []string) {
	if len(hits) > 0 {
		m.add("X-Mailman-Rule-Hits", strings.Join(hits, "; "))
	}
	if len(misses) > 0 {
		m.add("X-Mailman-Rule-Misses", strings.Join(misses, "; "))
	}
}

// listCopyWith turns an accepted post into the copy subscribers receive:
// the accept chain (its rule headers, none when hits and misses are empty,
// as for a post a moderator approved, which skips the chains), the posting
// pipeline (cook-headers, subject-prefix, rfc-2369) and the decoration done
// at delivery (the footer).
func listCopyWith(n listNames, post *rawMessage, hits, misses []string) *rawMessage {
	m := post.clone()
	// chains/accept.py
	markRules(m, hits, misses)
	// handlers/cook_headers.py
	if !m.has("X-Mailman-Version") {
		m.add("X-Mailman-Version", MailmanVersion)
	}
	if !m.has("Precedence") {
		m.add("Precedence", "list")
	}
	if rt := m.get("Reply-To"); rt != "" { // no munging: re-added at the bottom
		m.del("Reply-To")
		m.add("Reply-To", rt)
	}
	// handlers/subject_prefix.py
	subject := prefixSubject(n.subjectPrefix(), m.get("Subject"))
	m.del("Subject")
	if isASCII(subject) {
		m.add("Subject", subject)
	} else {
		m.add("Subject", mime.QEncoding.Encode("utf-8", subject))
	}
	// handlers/rfc_2369.py, full list headers
	addListHeaders(m, n, true)
	// handlers/decorate.py, at delivery
	decorate(m, footer(n))
	return m
}

var rePattern = regexp.MustCompile(`(?i)^\s*((RE|AW|SV|VS)(\[\d+\])?\s*:\s*)+`)

// prefixSubject is subject_prefix.py for ASCII subjects: remove any copy
// of the prefix, keep one "Re: " after it.
func prefixSubject(prefix, subject string) string {
	text := strings.Join(strings.Split(strings.ReplaceAll(decodeHeader(subject), "\r\n", "\n"), "\n"), "")
	if strings.TrimSpace(text) == "" {
		text = "(no subject)"
	} else {
		text = strings.ReplaceAll(text, prefix, "")
	}
	recolon := ""
	if loc := rePattern.FindStringIndex(text); loc != nil {
		text = text[loc[1]:]
		recolon = "Re: "
	}
	return prefix + recolon + text
}

// addListHeaders is rfc_2369.py. Notices (reduced) get no List-Post.
func addListHeaders(m *rawMessage, n listNames, full bool) {
	m.del("List-Id")
	m.add("List-Id", "<"+n.listID+">")
	type kv struct{ k, v string }
	hs := []kv{
		{"List-Help", "<mailto:" + n.request() + "?subject=help>"},
		{"List-Owner", "<mailto:" + n.owner() + ">"},
		{"List-Unsubscribe", "<mailto:" + n.leave() + ">"},
		{"List-Subscribe", "<mailto:" + n.join() + ">"},
	}
	if full {
		hs = append(hs, kv{"List-Post", "<mailto:" + n.fqdn + ">"})
	}
	for _, h := range hs {
		m.del(h.k)
	}
	// Added sorted by name, as Mailman does.
	for _, k := range []string{"List-Help", "List-Owner", "List-Post", "List-Subscribe", "List-Unsubscribe"} {
		for _, h := range hs {
			if h.k == k {
				m.add(h.k, h.v)
			}
		}
	}
}

// pythonBoundary makes a boundary the way Python's email generator does:
// fifteen "=", nineteen digits, "==".
func pythonBoundary() string {
	n, err := rand.Int(rand.Reader, big.NewInt(1<<62))
	if err != nil {
		panic("crypto/rand failed: " + err.Error())
	}
	return fmt.Sprintf("===============%019d==", n)
}

// makeMsgID is Python's email.utils.make_msgid on a host named domain.
func makeMsgID(now time.Time, domain string) string {
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 64))
	if err != nil {
		panic("crypto/rand failed: " + err.Error())
	}
	return fmt.Sprintf("<%d.%d.%s@%s>", now.UnixNano()/1e7, os.Getpid(), n.String(), domain)
}

// rfc2822Date is Python's email.utils.formatdate.
func rfc2822Date(t time.Time) string { return t.Format("Mon, 02 Jan 2006 15:04:05 -0700") }

// userNotification starts a Mailman UserNotification: a text/plain message
// in us-ascii, or the headers of a multipart one when text is "".
func userNotification(to, from, subject, text string) *rawMessage {
	m := &rawMessage{}
	if text != "" {
		m.add("MIME-Version", "1.0")
		m.add("Content-Type", `text/plain; charset="us-ascii"`)
		m.add("Content-Transfer-Encoding", "7bit")
	}
	m.add("Subject", subject)
	m.add("From", from)
	m.add("To", to)
	if text != "" {
		m.body = []byte(strings.ReplaceAll(strings.TrimRight(text, "\n")+"\n", "\n", "\r\n"))
	}
	return m
}

// sendNotification is UserNotification.send followed by the virgin
// pipeline (cook-headers, rfc-2369 with reduced list headers).
func sendNotification(m *rawMessage, n listNames, now time.Time) {
	if !m.has("Message-ID") {
		m.add("Message-ID", makeMsgID(now, n.domain))
	}
	if !m.has("Date") {
		m.add("Date", rfc2822Date(now))
	}
	if !m.has("Precedence") {
		m.add("Precedence", "bulk")
	}
	if !m.has("X-Mailman-Version") {
		m.add("X-Mailman-Version", MailmanVersion)
	}
	addListHeaders(m, n, false)
}

// holdNotice is the notice chains/hold.py sends the poster.
func holdNotice(n listNames, sender, originalSubject, reason string, now time.Time) *rawMessage {
	subject := "(no subject)"
	if originalSubject != "" {
		// Mailman encodes the subject to the list's charset (us-ascii)
		// with errors="replace".
		subject = strings.Map(func(r rune) rune {
			if r >= 0x80 {
				return '?'
			}
			return r
		}, oneline(originalSubject))
	}
	text := wrap(expand(holdTemplate, map[string]string{
		"listname": n.fqdn,
		"subject":  subject,
		"reasons":  composeReasons([]string{reason}, 66),
	}), 70)
	m := userNotification(sender, n.bounces(), "Your message to "+n.fqdn+" awaits moderator approval", text)
	sendNotification(m, n, now)
	return m
}

// noMoreTodayNotice is what autorespond_to_sender sends instead of the
// notice that would pass the day's limit.
func noMoreTodayNotice(n listNames, sender string, count int, now time.Time) *rawMessage {
	text := wrap(expand(noMoreTodayTemplate, map[string]string{
		"listname":     n.fqdn,
		"sender_email": sender,
		"count":        fmt.Sprint(count),
		"owneremail":   n.owner(),
	}), 70)
	m := userNotification(sender, n.owner(), "Last autoresponse notification for today", text)
	sendNotification(m, n, now)
	return m
}

// rejectNotice is app/bounces.py bounce_message with the reject chain's
// RejectMessage: the original subject, a text part from the
// list:user:notice:rejected template and the post attached.
func rejectNotice(n listNames, sender string, post *rawMessage, reason string, now time.Time) *rawMessage {
	subject := post.get("Subject")
	if subject == "" {
		subject = "(no subject)"
	}
	m := userNotification(sender, n.owner(), oneline(subject), "")
	boundary := pythonBoundary()
	m.add("MIME-Version", "1.0")
	m.add("Content-Type", fmt.Sprintf("multipart/mixed; boundary=%q", boundary))
	sendNotification(m, n, now)
	notice := expand(rejectedTemplate, map[string]string{"listname": n.displayName, "reasons": reason})
	var b bytes.Buffer
	writeNoticeParts(&b, boundary, notice, post)
	b.WriteString("\r\n--" + boundary + "--\r\n")
	m.body = b.Bytes()
	return m
}

// refuseNotice is app/moderator.py send_rejection, which a moderator's
// "reject" of a held post sends the poster: the list:user:notice:refuse
// template about the request 'Posting of your message titled "SUBJECT"',
// from the -bounces address. reason is the moderator's comment.
func refuseNotice(n listNames, sender, subject, reason string, now time.Time) *rawMessage {
	text := wrap(expand(refuseTemplate, map[string]string{
		"listname":    n.fqdn,
		"request":     `Posting of your message titled "` + subject + `"`,
		"reason":      reason,
		"owner_email": n.owner(),
	}), 70)
	m := userNotification(sender, n.bounces(), `Request to mailing list "`+n.displayName+`" rejected`, text)
	sendNotification(m, n, now)
	return m
}

// moderatorNotice is the notice chains/hold.py sends the list's owners and
// moderators when admin_immed_notify is on (the default): the request text,
// the held message, and a "confirm" message to reply to.
func moderatorNotice(n listNames, sender string, held *rawMessage, reason string, now time.Time) *rawMessage {
	subject := "(no subject)"
	if s := held.get("Subject"); s != "" {
		subject = oneline(s)
	}
	m := userNotification(n.owner(), n.owner(), n.fqdn+" post from "+sender+" requires approval", "")
	boundary := pythonBoundary()
	m.add("MIME-Version", "1.0")
	m.add("Content-Type", fmt.Sprintf("multipart/mixed; boundary=%q", boundary))
	sendNotification(m, n, now)
	text := expand(adminPostTemplate, map[string]string{
		"listname":     n.fqdn,
		"sender_email": sender,
		"subject":      subject,
		"reasons":      composeReasons([]string{reason}, 55),
	})
	confirm := wrap(confirmText, 70)
	var b bytes.Buffer
	writeNoticeParts(&b, boundary, text, held)
	b.WriteString("\r\n--" + boundary + "\r\n")
	b.WriteString("Content-Type: message/rfc822\r\nMIME-Version: 1.0\r\n\r\n")
	b.WriteString("Content-Type: text/plain; charset=\"us-ascii\"\r\nMIME-Version: 1.0\r\nContent-Transfer-Encoding: 7bit\r\n")
	b.WriteString("Subject: confirm " + pendingToken() + "\r\n")
	b.WriteString("From: " + n.request() + "\r\n")
	b.WriteString("Date: " + rfc2822Date(now) + "\r\n")
	b.WriteString("Message-ID: " + makeMsgID(now, n.domain) + "\r\n\r\n")
	b.WriteString(strings.ReplaceAll(confirm, "\n", "\r\n"))
	b.WriteString("\r\n\r\n--" + boundary + "--\r\n")
	m.body = b.Bytes()
	return m
}

// pendingToken is a Mailman pendings token: 40 hexadecimal digits.
func pendingToken() string {
	var b [20]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic("crypto/rand failed: " + err.Error())
	}
	return fmt.Sprintf("%x", b)
}

// The en templates of Mailman 3.3.
const (
	adminPostTemplate = `As list administrator, your authorization is requested for the
following mailing list posting:

    List:    $listname
    From:    $sender_email
    Subject: $subject

The message is being held because:

$reasons

At your convenience, visit your dashboard to approve or deny the
request.
`
	confirmText = `If you reply to this message, keeping the Subject: header intact, Mailman will
discard the held message.  Do this if the message is spam.  If you reply to
this message and include an Approved: header with the list password in it, the
message will be approved for posting to the list.  The Approved: header can
also appear in the first line of the body of the reply.`
	holdTemplate = `Your mail to '$listname' with the subject

    $subject

Is being held until the list moderator can review it for approval.

The message is being held because:

$reasons

Either the message will get posted to the list, or you will receive
notification of the moderator's decision.
`
	rejectedTemplate = `Your message to the $listname mailing-list was rejected for the following
reasons:

$reasons

The original message as received by Mailman is attached.
`
	refuseTemplate = `Your request to the $listname mailing list

    $request

has been rejected by the list moderator.  The moderator gave the
following reason for rejecting your request:

"$reason"

Any questions or comments should be directed to the list administrator
at:

    $owner_email
`
	noMoreTodayTemplate = `We have received a message from your address <$sender_email>
requesting an automated response from the $listname mailing list.

The number we have seen today: $count.  In order to avoid problems such as
mail loops between email robots, we will not be sending you any further
responses today.  Please try again tomorrow.

If you believe this message is in error, or if you have any questions,
please contact the list owner at $owneremail.
`
)

var placeholder = regexp.MustCompile(`\$(?:\{([A-Za-z_][A-Za-z0-9_]*)\}|([A-Za-z_][A-Za-z0-9_]*))`)

// expand is Python's string.Template.safe_substitute: unknown placeholders
// stay as they are.
func expand(tmpl string, vars map[string]string) string {
	return placeholder.ReplaceAllStringFunc(tmpl, func(s string) string {
		name := strings.Trim(s, "${}")
		if v, ok := vars[name]; ok {
			return v
		}
		return s
	})
}

// composeReasons is hold.py _compose_reasons: each reason indented four
// spaces and wrapped.
func composeReasons(reasons []string, column int) string {
	out := make([]string, len(reasons))
	for i, r := range reasons {
		out[i] = "    " + wrap(r, column)
	}
	return strings.Join(out, "\n")
}

// wrap is Mailman's utilities/string.py wrap: fill each paragraph to
// column, leave indented paragraphs as they are, keep blank lines.
func wrap(text string, column int) string {
	lines := strings.SplitAfter(text, "\n")
	if len(lines) > 0 && lines[len(lines)-1] == "" {
		lines = lines[:len(lines)-1]
	}
	var paragraphs [][]string
	var para []string
	lastIndented := false
	flush := func() {
		if len(para) > 0 {
			paragraphs = append(paragraphs, para)
		}
		para = nil
	}
	for _, line := range lines {
		indented := len(line) > 0 && strings.ContainsRune(" \t\n\r\v\f", rune(line[0]))
		switch {
		case line == "\n":
			flush()
			paragraphs = append(paragraphs, []string{"\n"})
			lastIndented = false
		case lastIndented != indented:
			flush()
			para = []string{line}
			lastIndented = indented
		default:
			para = append(para, line)
		}
	}
	flush()
	var out strings.Builder
	addBreak := false
	for _, p := range paragraphs {
		if addBreak {
			out.WriteString("\n")
			addBreak = false
		}
		text := strings.Join(p, "")
		switch {
		case text == "\n":
			out.WriteString("\n")
		case strings.ContainsRune(" \t", rune(text[0])):
			out.WriteString(text)
		default:
			out.WriteString(fill(text, column))
			addBreak = true
		}
	}
	return out.String()
}

// fill is textwrap.fill: words separated by runs of white space (each
// white space character becomes a space), greedy up to width, the white
// space at a line break dropped.
func fill(text string, width int) string {
	text = strings.Map(func(r rune) rune {
		if unicode.IsSpace(r) {
			return ' '
		}
		return r
	}, text)
	// Chunks alternate words and white space runs.
	var chunks []string
	for len(text) > 0 {
		i := strings.IndexByte(text, ' ')
		if i == 0 {
			j := 0
			for j < len(text) && text[j] == ' ' {
				j++
			}
			chunks = append(chunks, text[:j])
			text = text[j:]
			continue
		}
		if i < 0 {
			i = len(text)
		}
		chunks = append(chunks, text[:i])
		text = text[i:]
	}
	var lines []string
	var cur strings.Builder
	for _, c := range chunks {
		isSpace := strings.TrimLeft(c, " ") == ""
		if cur.Len() == 0 && isSpace {
			continue // no white space at the start of a line
		}
		if cur.Len()+len(c) > width && cur.Len() > 0 && !isSpace {
			lines = append(lines, strings.TrimRight(cur.String(), " "))
			cur.Reset()
		}
		cur.WriteString(c)
	}
	if s := strings.TrimRight(cur.String(), " "); s != "" {
		lines = append(lines, s)
	}
	return strings.Join(lines, "\n")
}

// writeNoticeParts writes the first two parts of a Mailman notice as
// Python's email package does: the notice text, then the message it is
// about as message/rfc822. The caller writes what follows the second part.
func writeNoticeParts(b *bytes.Buffer, boundary, text string, about *rawMessage) {
	b.WriteString("--" + boundary + "\r\n")
	b.WriteString("Content-Type: text/plain; charset=\"us-ascii\"\r\nMIME-Version: 1.0\r\nContent-Transfer-Encoding: 7bit\r\n\r\n")
	b.WriteString(strings.ReplaceAll(text, "\n", "\r\n"))
	b.WriteString("\r\n--" + boundary + "\r\n")
	b.WriteString("Content-Type: message/rfc822\r\nMIME-Version: 1.0\r\n\r\n")
	orig := about.bytes()
	b.Write(orig)
	if !bytes.HasSuffix(orig, []byte("\r\n")) {
		b.WriteString("\r\n")
	}
}
