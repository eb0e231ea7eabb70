package checks

import (
	"regexp"
	"strings"

	"github.com/emersion/go-message/mail"
)

// The notices of Sympa 6.2, in English and French (the default language of
// many installations): what the templates in default/mail_tt2 say
// (message_report, moderate, reject, send_auth,
// delivery_status_notification, report) and their translations in
// po/sympa/fr.po. Sympa writes them from the server's own addresses
// (sympa@, sympa-request@, and the sender notices of 6.2.70) or from the
// list's -request address, with Auto-Submitted and "X-Mailer: Sympa".
//
//   - To the poster, 6.2.70: "Message distribution" / "Diffusion des
//     messages", one line: the post was forwarded to the moderators. It
//     quotes neither Subject nor Message-ID: a hold notice with no token,
//     ByTime. From 6.2.71 the same notice is a delivery status
//     notification ("Message distribution: Forwarded", Status 2.3.0 or
//     4.3.0) returning the post's header, which names the probe.
//   - To the moderators: "Message for list X from Y to be approved" with
//     the post attached whole.
//   - To the poster, a moderator refused: "Your message has been rejected",
//     quoting the Subject only, no reason.
//   - To the poster, refused by the list's scenario (subscribers only...)
//     or for its size: a delivery status notification, Status 5.x.x
//     ("Delivery not authorized, message refused" for 5.7.1), the post
//     attached, the reason in the text.
//   - To the poster, a "send auth" list: "Confirm your message for list
//     X" with the post attached; it waits for the poster's confirmation.
//
// A list's copy carries Sympa's List-Id (<name.domain>) and keeps the
// post's Message-ID; with dmarc_protection it is From "poster (via X
// Mailing List)" <list@...> with the poster in X-Original-From and
// Reply-To, which IsCopyOf accepts as From the list with its List-Id.
func init() {
	registerListManager(listManager{
		name:      ManagerSympa,
		looksLike: sympaLooksLike,
		classify:  classifySympa,
		reports:   true,
	})
}

func sympaLooksLike(h mail.Header) bool {
	return strings.HasPrefix(strings.TrimSpace(h.Get("X-Mailer")), "Sympa")
}

// sympaMachinery reports the marks Sympa puts on the mail it writes itself:
// its X-Mailer, or Auto-Submitted (every notice template sets one).
func sympaMachinery(h mail.Header) bool {
	return sympaLooksLike(h) || autoSubmitted(h)
}

var (
	reSympaHoldSubject = regexp.MustCompile(`(?i)^(Message distribution|Diffusion des messages)$`)
	reSympaForwarded   = regexp.MustCompile(`(?i)(?:Your\s+message\s+to\s+the\s+list\s+'([^'\s]+)'\s+has\s+been\s+forwarded\s+to\s+the\s+moderator\(s\)` +
		`|Votre\s+message\s+pour\s+la\s+liste\s+'?([^'\s]+?)'?\s+a\s+été\s+transmis\s+au\(x\)\s+modérateur\(s\))`)
	reSympaModSubject = regexp.MustCompile(`(?i)^(?:Message for list (\S+) from (\S+) to be approved|Message à modérer de (\S+) pour la liste (\S+))$`)
	reSympaRejSubject = regexp.MustCompile(`(?i)^(Your message has been rejected|Rejet de votre message)$`)
	reSympaRejList    = regexp.MustCompile(`(?i)(?:for\s+list|pour\s+la\s+liste)\s+(\S+@\S+?)\s+(?:has\s+been\s+rejected|a\s+été\s+rejeté)`)
	reSympaRejQuoted  = regexp.MustCompile(`(?is)\((?:Subject\s+of\s+your\s+mail|L'objet\s+de\s+votre\s+message)\s*:\s*(.*?)\)\s*(?:\n|$)`)
	reSympaAuthSubj   = regexp.MustCompile(`(?i)^(?:Confirm your message for list (\S+)|Confirmez votre message pour la liste (\S+)|CONFIRM [0-9a-f]+)$`)
	// The lines after which a delivery status notification gives its
	// reason: "...for the following reason:" (English), "...pour la raison
	// suivante :" and "Problème de diffusion de votre message pour la liste
	// 'X' :" (French). The reason is the first line after the last one.
	reSympaReasonMarker = regexp.MustCompile(`(?i)for\s+the\s+following\s+reason:|pour\s+la\s+raison\s+suivante\s*:|pour\s+la\s+liste\s+'[^']*'\s*:`)
)

func classifySympa(m *incoming) (Evidence, bool) {
	h, s := m.h, m.sender
	if !sympaMachinery(h) {
		return Evidence{}, false
	}
	if mt, _ := contentType(h); mt == "multipart/report" {
		return classifySympaReport(m)
	}
	subject := m.subject
	switch {
	case reSympaHoldSubject.MatchString(subject):
		// 6.2.70's message_report: one line naming the list by its name.
		text := m.parsed().text()
		f := reSympaForwarded.FindStringSubmatch(text)
		if f == nil {
			return Evidence{}, false
		}
		name := f[1] + f[2]
		ev := Evidence{Kind: KindHoldNotice, Manager: ManagerSympa, List: sympaListAddress(name, s), ByTime: true}
		ev.Reason = unwrap(f[0])
		return ev, true

	case reSympaModSubject.MatchString(subject):
		g := reSympaModSubject.FindStringSubmatch(subject)
		ev := Evidence{Kind: KindModeratorNotice, Manager: ManagerSympa, List: sympaListAddress(g[1]+g[4], s)}
		ev.Tokens = attachedProbeTokens(m.parsed())
		// Sympa gives the moderators no reason; its subject is the one
		// thing it says, and names no post.
		ev.Reason = subject
		return ev, true

	case reSympaRejSubject.MatchString(subject):
		text := m.parsed().text()
		ev := Evidence{Kind: KindRejection, Manager: ManagerSympa, List: s.list}
		if l := reSympaRejList.FindStringSubmatch(text); l != nil {
			ev.List = strings.ToLower(strings.TrimSuffix(l[1], "."))
		}
		if ev.List == "" {
			return Evidence{}, false
		}
		// The first paragraph: "Your message for list X has been rejected
		// by the moderator (M)." Sympa gives no reason of the moderator's.
		ev.Reason = unwrap(firstParagraph(text))
		if q := reSympaRejQuoted.FindStringSubmatch(text); q != nil {
			ev.Tokens = wrappedSubjectTokens(q[1])
		}
		return ev, true

	case reSympaAuthSubj.MatchString(subject):
		pb := m.parsed()
		if len(pb.attached) == 0 {
			return Evidence{}, false
		}
		g := reSympaAuthSubj.FindStringSubmatch(subject)
		ev := Evidence{Kind: KindHoldNotice, Manager: ManagerSympa, List: sympaListAddress(g[1]+g[2], s)}
		ev.Tokens = attachedProbeTokens(pb)
		if ev.List == "" {
			ev.List = firstRecipient(pb.attached[0].header)
		}
		// "Confirm your message for list X"; the subject "CONFIRM <key>"
		// holds the key that releases the post, which no reason may show.
		ev.Reason = subject
		if g[1]+g[2] == "" {
			ev.Reason = firstLine(pb.text())
		}
		return ev, true
	}
	return Evidence{}, false
}

// classifySympaReport reads Sympa's delivery status notifications: a post
// forwarded to the moderators (2.3.0, 4.3.0: Sympa 6.2.71 and later) is a
// hold, a refusal (5.x.x) a rejection. The reason is the sentence the text
// gives after "for the following reason:", else the Diagnostic-Code.
func classifySympaReport(m *incoming) (Evidence, bool) {
	pb := m.parsed()
	var block reportBlock
	for _, b := range pb.reports {
		if b.get("status") != "" {
			block = b
			break
		}
	}
	if block == nil {
		return Evidence{}, false
	}
	if !sympaLooksLike(m.h) && !strings.HasPrefix(strings.ToLower(block.get("diagnostic-code")), "x-sympa") {
		// Sympa's reports say "Diagnostic-Code: X-Sympa; ...": another
		// report a robot address passes on is not Sympa's word.
		return Evidence{}, false
	}
	status := strings.TrimSpace(block.get("status"))
	ev := Evidence{Manager: ManagerSympa, Recipient: reportRecipient(block)}
	switch {
	case status == "2.3.0" || status == "4.3.0":
		ev.Kind = KindHoldNotice
	case strings.HasPrefix(status, "5."):
		ev.Kind = KindRejection
	default:
		return Evidence{}, false
	}
	ev.Tokens, ev.List = returnedProbeTokens(m.h, pb)
	if ev.Recipient != "" {
		ev.List = ev.Recipient
	}
	text := pb.text()
	if ev.Kind == KindHoldNotice {
		if f := reSympaForwarded.FindString(text); f != "" {
			ev.Reason = unwrap(f)
		}
	} else if locs := reSympaReasonMarker.FindAllStringIndex(text, -1); locs != nil {
		ev.Reason = firstLine(text[locs[len(locs)-1][1]:])
	}
	if ev.Reason == "" {
		ev.Reason = collapse(reDiagnosticType.ReplaceAllString(block.get("diagnostic-code"), ""))
	}
	if ev.Reason == "" {
		ev.Reason = m.subject
	}
	return ev, true
}

// sympaListAddress makes a list's address of the name Sympa's notices give
// ("t-ae793767", or already "t-ae793767@sympa.example.org"): Sympa's robot
// writes from the lists' own domain.
func sympaListAddress(name string, s sender) string {
	name = strings.ToLower(strings.Trim(name, "'\"<>.,"))
	switch {
	case name == "":
		return s.list
	case strings.Contains(name, "@"):
		return name
	case s.list != "":
		return s.list
	case s.domain != "":
		return name + "@" + s.domain
	}
	return ""
}

// wrappedSubjectTokens reads a probe's subject that a notice quotes inside
// its own text, wrapped over lines anywhere, even inside the token (Sympa
// wraps after any "."): a probe's subject is the prefix and one token, and
// a token holds no white space.
func wrappedSubjectTokens(quoted string) []string {
	s := collapse(quoted)
	i := strings.Index(s, SubjectPrefix)
	if i < 0 {
		return nil
	}
	rest := strings.Join(strings.Fields(s[i+len(SubjectPrefix):]), "")
	return quotedProbeTokens(s[:i] + SubjectPrefix + " " + rest)
}

// firstLine returns the first non-blank line of text, trimmed.
func firstLine(text string) string {
	for _, line := range strings.Split(text, "\n") {
		if t := strings.TrimSpace(line); t != "" {
			return t
		}
	}
	return ""
}

// firstRecipient returns the first address in To of h, lower-cased.
func firstRecipient(h mail.Header) string {
	if addrs, err := addressParser.ParseList(fieldText(h, "To")); err == nil && len(addrs) > 0 {
		return strings.ToLower(addrs[0].Address)
	}
	return ""
}
