package checks

import (
	"regexp"
	"strings"

	"github.com/emersion/go-message/mail"
)

// The notices of mlmmj 1.3: its list texts wait-post (to the poster: the
// post awaits release by a moderator, on a moderated list or from a
// non-subscriber with modnonsubposts), moderate-post (to the moderators,
// with the post attached) and deny-post (to the poster: refused because it
// is too large, the list address is not in To or Cc, an access rule, not a
// subscriber, not a moderator, expired or rejected by a moderator), each
// with the post attached. mlmmj writes them from list+owner@ with a
// Message-ID of its own making ("<time-pid-mlmmj-random@domain>") and no
// other mark of its own; their subjects come from the list texts in the
// language the list was made with (all the languages mlmmj ships are
// recognised), their reason is the sentence of the text that quotes the
// post's subject.
//
// A list's copy keeps the post's From and Message-ID (mlmmj adds only the
// fields in control/customheaders, by default none): it is matched by its
// Message-ID like any other.
var mlmmjManager = listManager{
	name:      ManagerMlmmj,
	looksLike: mlmmjMachinery,
	classify:  classifyMlmmj,
}

// mlmmjMachinery reports the Message-ID mlmmj gives the mail it writes.
func mlmmjMachinery(h mail.Header) bool {
	return strings.Contains(strings.ToLower(fieldText(h, "Message-Id")), "-mlmmj-")
}

// mlmmjSubjects are the subjects of mlmmj's list texts (text.skel/*/
// wait-post, moderate-post, deny-post), with $list$@$domain$ and $subject$
// as mlmmj writes them.
var mlmmjSubjects = []struct {
	kind Kind
	tmpl string
}{
	// en
	{KindHoldNotice, "Awaiting release to $list$@$domain$: $subject$"},
	{KindModeratorNotice, "Please moderate $list$@$domain$: $subject$"},
	{KindRejection, "Post to $list$@$domain$ denied: $subject$"},
	// ast
	{KindHoldNotice, "Esperando lliberación a $list$@$domain$: $subject$"},
	{KindModeratorNotice, "Por favor, modera $list$@$domain$: $subject$"},
	{KindRejection, "Mensaxe a $list$@$domain$ denegáu: $subject$"},
	// cs
	{KindHoldNotice, "Čeká se na potvrzení $list$@$domain$: $subject$"},
	{KindModeratorNotice, "Žádost o moderování $list$@$domain$: $subject$"},
	{KindRejection, "Zaslat email do $list$@$domain$ není možné ($subject$)"},
	// de
	{KindHoldNotice, "Warte auf Moderation für $list$@$domain$: $subject$"},
	{KindModeratorNotice, "Bitte moderieren Sie $list$@$domain$: $subject$"},
	{KindRejection, "Ihre Nachricht an $list$@$domain$ wurde abgewiesen: $subject$"},
	// fi
	{KindHoldNotice, "Viesti odottaa hyväksymistä listalle $list$@$domain$: $subject$"},
	{KindModeratorNotice, "Viesti listalle $list$@$domain$ odottaa hyväksyntää: $subject$"},
	{KindRejection, "Viesti listalle $list$@$domain$ hylättiin: $subject$"},
	// fr
	{KindHoldNotice, "En attente de réponse à $list$@$domain$: $subject$"},
	{KindModeratorNotice, "Veuillez modérer $list$@$domain$: $subject$"},
	{KindRejection, "Message à $list$@$domain$ refusé : $subject$"},
	// gr
	{KindHoldNotice, "Μήνυμα που εκκρεμεί για τη λίστα ταχυδρομείου $list$@$domain$: $subject$"},
	{KindModeratorNotice, "Παρακαλώ διαχειριστείτε $list$@$domain$: $subject$"},
	{KindRejection, "Το μήνυμα με θέμα $subject$ απορρίφθηκε απο τη $list$@$domain$:"},
	// it
	{KindHoldNotice, "In attesa di rilascio a $list$@$domain$: $subject$"},
	{KindModeratorNotice, "Moderazione di $list$@$domain$: $subject$"},
	{KindRejection, "Messaggio a $list$@$domain$ negato: $subject$"},
	// pt
	{KindHoldNotice, "Mensagem à espera de publicação em $list$@$domain$: $subject$"},
	{KindModeratorNotice, "Moderação em $list$@$domain$: $subject$"},
	{KindRejection, "Mensagem para $list$@$domain$ recusada: $subject$"},
	// sk
	{KindHoldNotice, "čaká sa na zverejnenie do $list$@$domain$: $subject$"},
	{KindModeratorNotice, "Prosba o moderovanie $list$@$domain$: $subject$"},
	{KindRejection, "Odmietnutie príspevku $subject$ do $list$@$domain$"},
	// zh-cn
	{KindHoldNotice, "等待发布到 $list$@$domain$：$subject$"},
	{KindModeratorNotice, "请审核 $list$@$domain$：$subject$"},
	{KindRejection, "发往 $list$@$domain$ 的邮件被拒绝：$subject$"},
}

type mlmmjSubject struct {
	kind Kind
	re   *regexp.Regexp
	list int // submatch index of the list's address
	post int // submatch index of the post's subject
}

var mlmmjSubjectRes = func() []mlmmjSubject {
	out := make([]mlmmjSubject, 0, len(mlmmjSubjects))
	for _, s := range mlmmjSubjects {
		tmpl := collapse(s.tmpl)
		var b strings.Builder
		b.WriteString(`(?i)^`)
		ms := mlmmjSubject{kind: s.kind}
		group := 0
		for tmpl != "" {
			li := strings.Index(tmpl, "$list$@$domain$")
			si := strings.Index(tmpl, "$subject$")
			next, isList := si, false
			if li >= 0 && (si < 0 || li < si) {
				next, isList = li, true
			}
			if next < 0 {
				b.WriteString(regexp.QuoteMeta(tmpl))
				break
			}
			b.WriteString(regexp.QuoteMeta(tmpl[:next]))
			group++
			if isList {
				b.WriteString(`([^\s@]+@[^\s@]+?)`)
				ms.list = group
				tmpl = tmpl[next+len("$list$@$domain$"):]
			} else {
				b.WriteString(`(.*)`)
				ms.post = group
				tmpl = tmpl[next+len("$subject$"):]
			}
		}
		b.WriteString(`$`)
		ms.re = regexp.MustCompile(b.String())
		out = append(out, ms)
	}
	return out
}()

var (
	reMlmmjWithSubject = regexp.MustCompile(`(?i)\s+with\s+subject\s+"[^"]*"`)
	reMlmmjQuoted      = regexp.MustCompile(`"[^"]*"|《[^》]*》`)
	reMlmmjBelow       = regexp.MustCompile(`(?i)\s*The\s+message\s+is\s+below\.?$`)
	// reSentenceEnd ends a sentence of a list text: a full stop followed
	// by a space, or an ideographic one.
	reSentenceEnd = regexp.MustCompile(`[.!?]\s+|。`)
)

func classifyMlmmj(m *incoming) (Evidence, bool) {
	h, s := m.h, m.sender
	if !mlmmjMachinery(h) || s.role == "" || s.role == "site" {
		return Evidence{}, false
	}
	for _, ms := range mlmmjSubjectRes {
		g := ms.re.FindStringSubmatch(m.subject)
		if g == nil {
			continue
		}
		list := strings.ToLower(g[ms.list])
		if !strings.EqualFold(list, s.list) {
			// list A's robot writing about list B: no notice of A's.
			return Evidence{}, false
		}
		post := g[ms.post]
		pb := m.parsed()
		ev := Evidence{Kind: ms.kind, Manager: ManagerMlmmj, List: list}
		ev.Tokens = dedupe(append(attachedProbeTokens(pb), quotedProbeTokens(post)...))
		ev.Reason = mlmmjReason(pb.text())
		if ev.Reason == "" {
			// The body was not fetched: the subject, without the post's.
			ev.Reason = strings.TrimSpace(strings.Replace(m.subject, post, "", 1))
		}
		return ev, true
	}
	return Evidence{}, false
}

// mlmmjReason returns what an mlmmj notice says happened and why, the
// post's subject left out: the paragraph after the prologue, the first that
// quotes something. Where that paragraph has several sentences, the first
// only announces the post ("The message from <poster> has been submitted to
// the list.", which reads like success) and mlmmj's cause is in the rest
// ("However, the moderators are being asked to review it before releasing
// it to the list because this is a moderated list."): the reason is the
// rest, so that it, and the label cut from it, carry the cause.
func mlmmjReason(text string) string {
	for _, par := range strings.Split(strings.ReplaceAll(text, "\r", ""), "\n\n") {
		p := collapse(par)
		if !reMlmmjQuoted.MatchString(p) {
			continue
		}
		if loc := reMlmmjWithSubject.FindStringIndex(p); loc != nil {
			p = p[:loc[0]] + p[loc[1]:]
		} else if loc := reMlmmjQuoted.FindStringIndex(p); loc != nil {
			p = p[:loc[0]] + `"…"` + p[loc[1]:]
		}
		p = reMlmmjBelow.ReplaceAllString(p, "")
		if loc := reSentenceEnd.FindStringIndex(p); loc != nil && strings.TrimSpace(p[loc[1]:]) != "" {
			p = strings.TrimSpace(p[loc[1]:])
		}
		return p
	}
	return ""
}
