package checks

import (
	"regexp"
	"strings"

	"github.com/emersion/go-message/mail"
	"github.com/listprobe/listprobe/checks/compose"
)

// The notices of Sympa 6.2, in English, French (the default language of
// many installations) and the other languages of its catalogues: what the
// templates in default/mail_tt2 say (message_report, moderate, reject,
// send_auth, delivery_status_notification, report) and their translations
// in po/sympa/*.po (see sympaTexts). Sympa writes them from the server's
// own addresses (sympa@, sympa-request@) or from the list's -request
// address, with Auto-Submitted and "X-Mailer: Sympa".
//
//   - To the poster, 6.2.70: "Message distribution" / "Diffusion des
//     messages", one line: the post was forwarded to the moderators. It
//     quotes neither Subject nor Message-ID: a hold notice with no token,
//     ByTime. From 6.2.71 the same notice is a delivery status
//     notification ("Message distribution: Forwarded", Status 2.3.0 or
//     4.3.0) returning the post's header, which names the probe.
//   - To the moderators (list-editor@): "Message for list X from Y to be
//     approved" with the post attached whole.
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
// Reply-To, which IsCopyOf accepts as From the list with its List-Id. (With
// dmarc_protection's other_email, From is an address that is neither the
// poster nor the list: such a copy is not recognised, on purpose, as a
// person's message could look the same.)
var sympaManager = listManager{
	name:      ManagerSympa,
	looksLike: sympaLooksLike,
	classify:  classifySympa,
	reports:   true,
}

func sympaLooksLike(h mail.Header) bool {
	return strings.HasPrefix(strings.TrimSpace(h.Get("X-Mailer")), "Sympa")
}

// sympaMachinery reports the marks Sympa puts on the mail it writes itself:
// its X-Mailer, or Auto-Submitted (every notice template sets one).
func sympaMachinery(h mail.Header) bool {
	return sympaLooksLike(h) || autoSubmitted(h)
}

// sympaText is the wording of the notices in one language: the
// messages of Sympa 6.2.70's templates (the English msgids) and their
// translations in po/sympa/<lang>.po, %1, %2, %3 standing for the list's
// name, its domain or the sender, the moderator or the quoted subject as
// in the template.
type sympaText struct {
	lang          string
	distribution  string   // message_report.tt2's subject
	forwarded     string   // its text for a post sent to the moderators
	rejected      string   // reject.tt2's subject
	rejectedBy    string   // reject.tt2's first sentence: %1@%2 the list
	subjectOfMail string   // reject.tt2's quote of the post's subject
	toBeApproved  string   // moderate.tt2's subject: %1 the list
	reasonAfter   []string // delivery_status_notification.tt2: the reason follows the last of these
}

// sympaTexts: English and French are checked against the testbed's real
// notices; the others are the 6.2.70 catalogues as shipped (Portuguese
// and Czech are left out: their catalogue lacks or garbles these texts).
var sympaTexts = []sympaText{
	{lang: "en",
		distribution:  "Message distribution",
		forwarded:     "Your message to the list '%1' has been forwarded to the moderator(s)",
		rejected:      "Your message has been rejected",
		rejectedBy:    "Your message for list %1@%2 has been rejected by the moderator (%3).",
		subjectOfMail: "(Subject of your mail: %1)",
		toBeApproved:  "Message for list %1 from %2 to be approved",
		reasonAfter:   []string{"Impossible to distribute your message for list '%1' for the following reason:", "Your message for list '%1' (attached below) was rejected.\nYou are not allowed to send this message for the following reason:"}},
	{lang: "fr",
		distribution:  "Diffusion des messages",
		forwarded:     "Votre message pour la liste %1 a été transmis au(x) modérateur(s)",
		rejected:      "Rejet de votre message",
		rejectedBy:    "Votre message pour la liste %1@%2 a été rejeté par %3, modérateur de la liste.",
		subjectOfMail: "(L'objet de votre message : %1)",
		toBeApproved:  "Message à modérer de %2 pour la liste %1",
		reasonAfter:   []string{"Problème de diffusion de votre message pour la liste '%1' :", "Votre message pour la liste '%1' (ci-joint) a été rejeté.\nVous n'êtes pas autorisé à diffuser ce message pour la raison suivante :"}},
	{lang: "de",
		distribution:  "Nachrichtenverteilung",
		forwarded:     "Ihre Nachricht für Liste %1 wurde an den/die Moderator(en) weitergeleitet",
		rejected:      "Ihre Nachricht wurde abgelehnt",
		rejectedBy:    "Ihre Nachricht an die Liste %1@%2 wurde durch den Moderator (%3) abgelehnt.",
		subjectOfMail: "(Betreff Ihrer E-Mail: %1)",
		toBeApproved:  "Nachricht für Liste %1 von %2 soll angenommen werden",
		reasonAfter:   []string{"Verteilung Ihrer Nachricht für die Liste '%1' ist aus folgendem Grund nicht möglich:", "Ihre Nachricht an die Liste '%1' (unten angehängt) wurde zurückgewiesen.\nSie dürfen aus folgendem Grund diese Nachricht nicht senden:"}},
	{lang: "es",
		distribution:  "Distribución del mensaje",
		forwarded:     "Hemos enviado al moderador tu mensaje a la lista '%1'",
		rejected:      "Se ha rechazado tu mensaje",
		rejectedBy:    "Tu mensaje para la lista %1@%2 fue rechazado por el moderador (%3).",
		subjectOfMail: "(Asunto de tu mensaje: %1)",
		toBeApproved:  "El mensaje para la lista %1 enviado por %2 tiene que ser aprobado",
		reasonAfter:   []string{"No fue posible distribuir tu mensaje a la lista '%1' por el siguiente motivo:", "Se ha rechazado tu mensaje a la lista '%1' (adjunto más abajo).\nNo tienes permiso para enviar este mensaje por la siguiente razón:"}},
	{lang: "it",
		distribution:  "Stato distribuzione messaggio",
		forwarded:     "Il tuo messaggio per la lista '%1' e' stato inoltrato ai moderatori.",
		rejected:      "Il tuo messaggio è stato rifiutato.",
		rejectedBy:    "Il tuo messaggio per la lista %1@%2 è stato rifiutato dal moderatore (%3).",
		subjectOfMail: "(Oggetto della tua mail: %1)",
		toBeApproved:  "Messaggio da approvare per la lista %1 inviato da %2",
		reasonAfter:   []string{"E' stato impossibile distribuire il tuo messaggio alla lista '%1' per il seguente motivo:", "Il messaggio per la lista '%1' (allegato sotto) e' stato rifiutato.\nNon sei autorizzato a inviare il messaggio per le seguenti ragioni: "}},
	{lang: "nl",
		distribution:  "Distributie van berichten",
		forwarded:     "Uw bericht naar lijst '%1' is doorgestuurd naar de moderator(s)",
		rejected:      "Uw bericht is afgwezen",
		rejectedBy:    "Uw bericht voor de lijst %1@%2 is afgewezen door de moderator (%3).",
		subjectOfMail: "(Onderwerp van uw mail: %1)",
		toBeApproved:  "Bericht voor lijst %1 van %2 goed te keuren",
		reasonAfter:   []string{"Het is niet mogelijk om uw bericht naar de lijst '%1' door te sturen, om de volgende reden:"}},
	{lang: "pt_BR",
		distribution:  "Distribuição de mensagens",
		forwarded:     "Sua mensagem para a lista %1 foi encaminhada para os/as moderadores/as",
		rejected:      "Sua mensagem foi rejeitada.",
		rejectedBy:    "Sua mensagem para a lista %1@%2\nfoi rejeitada pelo moderador (%3).",
		subjectOfMail: "(Assunto do e-mail: %1)",
		toBeApproved:  "Mensagem para lista '%1' de '%2' para ser aprovada",
		reasonAfter:   []string{"Não foi possível distribuir sua mensagem para a lista '%1' pelo seguinte motivo :", "Sua mensagem para a lista '%1' (anexada abaixo) foi rejeitada. \nVocê não está autorizado a enviar essa mensagem pelo seguinte motivo:"}},
	{lang: "ca",
		distribution:  "Distribució del missatge",
		forwarded:     "El vostre missatge per a la llista «%1» s'ha reenviat als moderadors",
		rejected:      "S'ha rebutjat el vostre missatge",
		rejectedBy:    "El vostre missatge per a la llista %1@%2 ha estat rebutjat pel moderador (%3).",
		subjectOfMail: "(Assumpte del vostre missatge: %1)",
		toBeApproved:  "El missatge de %2 per a la llista %1 està a l'espera d'aprovació",
		reasonAfter:   []string{"Impossible distribuir el vostre missatge a la llista '%1' pel següent motiu:", "el vostre missatge per a la llista '%1' (afegit a sota) ha estat rebutjat. \nNo esteu autoritzat a enviar aquest missatge pel següent motiu:"}},
	{lang: "ja",
		distribution:  "メッセージのゆくえ",
		forwarded:     "あなたが %1 メーリングリスト宛てに送ったメッセージを、モデレータ (たち) に回送しました。",
		rejected:      "メッセージは拒否されました。",
		rejectedBy:    "あなたがメーリングリスト %1@%2 へ送ったメッセージは、モデレータ (%3) に拒否されました。",
		subjectOfMail: "(メールの件名: %1)",
		toBeApproved:  "承認が必要な %1 メーリングリスト宛てメッセージ (%2 から)",
		reasonAfter:   []string{"Impossible to distribute your message for list '%1' for the following reason:\nリスト '%1' 宛のメッセージを配信できませんでした。理由は以下の通りです。", "Your message for list '%1' (attached below) was rejected. You are not allowed to send this message for the following reason:\nあなたからリスト %1 宛てのメッセージ (下に添付します) を拒否しました。このメッセージは以下の理由で送ることができません。"}},
	{lang: "ru",
		distribution:  "Рассылка сообщения",
		forwarded:     "Ваше сообщение для рассылки '%1' было переслано модераторам",
		rejected:      "Ваше сообщение было отвергнуто.",
		rejectedBy:    "Ваше сообщение в рассылку %1@%2 было отвергнуто модератором (%3).",
		subjectOfMail: "(Тема вашего письма: %1)",
		toBeApproved:  "Сообщения, требующие утверждения для рассылки %1 от %2",
		reasonAfter:   []string{"Невозможно разослать ваше сообщение в рассылку '%1' по следующей причине:", "Ваше сообщение в рассылку '%1' (прикреплено ниже) было отвергнуто.\nВам не разрешено отправлять такие сообщения по следующей причине:"}},
	{lang: "pl",
		distribution:  "Rozsyłanie wiadomości",
		forwarded:     "Twoja wiadomość wysłana na listę %1 została przekazana redaktorowi",
		rejected:      "Twoja wiadomość została odrzucona.",
		rejectedBy:    "Twoja wiadomość wysłana na listę %1@%2 została odrzucona przez moderatora (%3).",
		subjectOfMail: "(Temat twojej wiadomości: %1)",
		toBeApproved:  "Wiadomość dla listy %1 z %2 została zaakceptowana.",
		reasonAfter:   []string{"Rozesłanie wiadomości na listę '%1' jest niemożliwe z następującego powodu:", "Twoja wiadomość dla listy '%1' (załączona poniżej) została odrzucona. \nNie masz pozwolenia na wysłanie tej wiadomości z następującego powodu:"}},
	{lang: "sv",
		distribution:  "Meddelandedistribution",
		forwarded:     "Ditt meddelande till listan %1 har skickats vidare till redaktör(erna).",
		rejected:      "Ditt meddelande har avslagits.",
		rejectedBy:    "Ditt meddelande till listan %1@%2 har avslagits av moderatorn (%3).",
		subjectOfMail: "(Ämnet för ditt medddelande: %1)",
		toBeApproved:  "Meddelande för listan %1 från %2 att godkänna",
		reasonAfter:   []string{"Det är ej möjligt att distribuera ditt meddelande till listan '%1' på grund av följande orsak:", "Ditt meddelande till listan '%1' (bifogat nedan) avslogs.\nDu får inte skicka meddelandet av följande skäl:"}},
	{lang: "zh_CN",
		distribution:  "邮件发行",
		forwarded:     "邮件列表%1的邮件被转发到了编辑。",
		rejected:      "您的邮件被拒绝了。",
		rejectedBy:    "邮件列表%1@%2的邮件\n被监管员（%3）拒绝了。",
		subjectOfMail: "（邮件标题：%1）",
		toBeApproved:  "邮件%1（发往邮件列表＂%2＂）被拒绝。",
		reasonAfter:   []string{"无法发送您的邮件到邮件列表＂%1＂，因为以下原因：", "邮件列表＂%1＂（附在下面）被拒绝了。\n您不允许发送这则邮件因为以下原因："}},
}

// sympaWords are sympaTexts made into regular expressions, white space
// matching any run of white space (Sympa wraps its texts) and each %n a
// lazy group.
type sympaWords struct {
	distribution, rejected, toBeApproved *regexp.Regexp // subjects, whole
	forwarded, rejectedBy, subjectOfMail *regexp.Regexp // found in the text
	reasonAfter                          []*regexp.Regexp
	approvedList                         int // toBeApproved's group of the list's name
}

var sympaLangs = func() []sympaWords {
	out := make([]sympaWords, 0, len(sympaTexts))
	for _, st := range sympaTexts {
		w := sympaWords{}
		var groups map[int]int
		w.distribution, _ = templateRegexp(st.distribution, true)
		w.rejected, _ = templateRegexp(st.rejected, true)
		w.toBeApproved, groups = templateRegexp(st.toBeApproved, true)
		w.approvedList = groups[1]
		w.forwarded, _ = templateRegexp(st.forwarded, false)
		w.rejectedBy, _ = templateRegexp(st.rejectedBy, false)
		w.subjectOfMail, _ = templateRegexp(st.subjectOfMail, false)
		for _, m := range st.reasonAfter {
			re, _ := templateRegexp(m, false)
			w.reasonAfter = append(w.reasonAfter, re)
		}
		out = append(out, w)
	}
	return out
}()

var rePlaceholder = regexp.MustCompile(`%[1-9]`)

// templateRegexp makes a regular expression of a template's message:
// whole says it must match a whole (collapsed) subject. groups maps each
// placeholder's number to its group.
func templateRegexp(tmpl string, whole bool) (*regexp.Regexp, map[int]int) {
	var b strings.Builder
	if whole {
		b.WriteString(`(?i)^`)
	} else {
		b.WriteString(`(?is)`)
	}
	literal := func(s string) {
		for i, word := range strings.Split(s, " ") {
			if i > 0 {
				b.WriteString(`\s+`)
			}
			b.WriteString(regexp.QuoteMeta(word))
		}
	}
	groups := map[int]int{}
	tmpl = collapse(tmpl)
	last := 0
	for i, loc := range rePlaceholder.FindAllStringIndex(tmpl, -1) {
		literal(tmpl[last:loc[0]])
		b.WriteString(`(.+?)`)
		groups[int(tmpl[loc[0]+1]-'0')] = i + 1
		last = loc[1]
	}
	literal(tmpl[last:])
	if whole {
		b.WriteString(`$`)
	}
	return regexp.MustCompile(b.String()), groups
}

func classifySympa(m *incoming) (Evidence, bool) {
	h, s := m.h, m.sender
	if !sympaMachinery(h) {
		return Evidence{}, false
	}
	if mt, _ := contentType(h); mt == "multipart/report" {
		return classifySympaReport(m)
	}
	subject := m.subject
	for _, w := range sympaLangs {
		switch {
		case w.distribution.MatchString(subject):
			// 6.2.70's message_report: one line naming the list by its
			// name, and nothing of the post.
			f := w.forwarded.FindStringSubmatch(m.parsed().text())
			if f == nil {
				continue
			}
			list := sympaListAddress(f[1], s)
			if list == "" {
				return Evidence{}, false
			}
			return Evidence{Kind: KindHoldNotice, Manager: ManagerSympa, List: list, ByTime: true, Reason: collapse(f[0])}, true

		case w.rejected.MatchString(subject):
			// reject.tt2: "Your message for list X has been rejected by
			// the moderator (M)." and the post's subject; Sympa gives no
			// reason of the moderator's.
			text := m.parsed().text()
			r := w.rejectedBy.FindStringSubmatch(text)
			if r == nil {
				continue
			}
			ev := Evidence{Kind: KindRejection, Manager: ManagerSympa, List: sympaListAddress(r[1]+"@"+r[2], s), Reason: collapse(r[0])}
			if q := w.subjectOfMail.FindStringSubmatch(text); q != nil {
				ev.Tokens = wrappedSubjectTokens(q[1])
			}
			return ev, true
		}
	}
	pb := m.parsed()
	if s.role == "request" {
		// moderate.tt2, to the list's moderators (-editor): the post
		// attached whole (but for a post Sympa thinks is spam). Sympa gives
		// the moderators no reason; its subject is the one thing it says.
		var approved []string
		for _, w := range sympaLangs {
			if g := w.toBeApproved.FindStringSubmatch(subject); g != nil {
				approved = g
				if w.approvedList > 0 {
					approved = []string{g[0], g[w.approvedList]}
				}
				break
			}
		}
		if approved != nil || (toEditor(h, s.list) && len(pb.attached) > 0) {
			name := ""
			if len(approved) > 1 {
				name = approved[1]
			}
			return Evidence{Kind: KindModeratorNotice, Manager: ManagerSympa, List: sympaListAddress(name, s),
				Tokens: attachedProbeTokens(pb), Reason: subject}, true
		}
	}
	if g := reSympaAuthSubj.FindStringSubmatch(subject); g != nil && len(pb.attached) > 0 {
		// send_auth.tt2: the list waits for the poster to confirm.
		ev := Evidence{Kind: KindHoldNotice, Manager: ManagerSympa, List: sympaListAddress(g[1]+g[2], s), Tokens: attachedProbeTokens(pb)}
		if s.list == "" && g[1]+g[2] == "" {
			ev.List = firstRecipient(pb.attached[0].header)
		}
		// "Confirm your message for list X"; the subject "CONFIRM <key>"
		// holds the key that releases the post, which no reason may show.
		ev.Reason = subject
		if g[1]+g[2] == "" {
			ev.Reason = firstLine(pb.text())
		}
		return ev, ev.List != ""
	}
	return Evidence{}, false
}

var reSympaAuthSubj = regexp.MustCompile(`(?i)^(?:Confirm your message for list (\S+)|Confirmez votre message pour la liste (\S+)|CONFIRM [0-9a-f]+)$`)

// toEditor reports whether the message is addressed to list's moderators,
// Sympa's list-editor@ address.
func toEditor(h mail.Header, list string) bool {
	local, domain, ok := strings.Cut(list, "@")
	if !ok {
		return false
	}
	want := local + "-editor@" + domain
	addrs, err := addressParser.ParseList(fieldText(h, "To"))
	if err != nil {
		return strings.Contains(strings.ToLower(fieldText(h, "To")), want)
	}
	for _, a := range addrs {
		if strings.EqualFold(a.Address, want) {
			return true
		}
	}
	return false
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
		for _, w := range sympaLangs {
			if f := w.forwarded.FindString(text); f != "" {
				ev.Reason = collapse(f)
				break
			}
		}
	} else {
		// The reason is the line after the last "...for the following
		// reason:" in whichever language.
		after := -1
		for _, w := range sympaLangs {
			for _, re := range w.reasonAfter {
				for _, loc := range re.FindAllStringIndex(text, -1) {
					after = max(after, loc[1])
				}
			}
		}
		if after >= 0 {
			ev.Reason = firstLine(text[after:])
		}
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
	name = strings.ToLower(strings.Trim(collapse(name), "'\"<>.,«»＂“”"))
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
	i := strings.Index(s, compose.SubjectPrefix)
	if i < 0 {
		return nil
	}
	rest := strings.Join(strings.Fields(s[i+len(compose.SubjectPrefix):]), "")
	return quotedProbeTokens(s[:i] + compose.SubjectPrefix + " " + rest)
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
