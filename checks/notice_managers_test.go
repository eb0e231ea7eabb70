package checks

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/listprobe/listprobe/checks/token"
)

// captureKey signed the tokens of the notices the testbed's real servers
// sent (internal/testbed/capture_test.go, checks/mailman_capture_test.go).
const captureKey = "listprobe-evidence-test-key-0123456789"

// managerFixture is what Classify must make of one real Sympa or mlmmj
// message captured on the testbed.
type managerFixture struct {
	kind    Kind
	manager string
	list    string
	reason  string
	tokens  int  // probes named, each a verified token of list
	byTime  bool // a notice that names its list but no probe
	poster  string
}

var managerFixtures = map[string]managerFixture{
	"sympa-hold_notice-editorkey-en.eml": {
		kind: KindHoldNotice, manager: "sympa", list: "t-ae793767@sympa.example.test", byTime: true, poster: "member@example.test",
		reason: "Your message to the list 't-ae793767' has been forwarded to the moderator(s)",
	},
	"sympa-hold_notice-editorkey-fr.eml": {
		kind: KindHoldNotice, manager: "sympa", list: "t-9d6dcdda@sympa.example.test", byTime: true, poster: "member@example.test",
		reason: "Votre message pour la liste t-9d6dcdda a été transmis au(x) modérateur(s)",
	},
	"sympa-moderator_request-editorkey-en.eml": {
		kind: KindModeratorNotice, manager: "sympa", list: "t-ae793767@sympa.example.test", tokens: 1, poster: "member@example.test",
		reason: "Message for list t-ae793767 from member@example.test to be approved",
	},
	"sympa-moderator_request-editorkey-fr.eml": {
		kind: KindModeratorNotice, manager: "sympa", list: "t-9d6dcdda@sympa.example.test", tokens: 1, poster: "member@example.test",
		reason: "Message à modérer de member@example.test pour la liste t-9d6dcdda",
	},
	"sympa-rejection-moderator-en.eml": {
		kind: KindRejection, manager: "sympa", list: "t-ae793767@sympa.example.test", tokens: 1, poster: "member@example.test",
		reason: "Your message for list t-ae793767@sympa.example.test has been rejected by the moderator (moderator@example.test).",
	},
	"sympa-rejection-moderator-fr.eml": {
		kind: KindRejection, manager: "sympa", list: "t-9d6dcdda@sympa.example.test", tokens: 1, poster: "member@example.test",
		reason: "Votre message pour la liste t-9d6dcdda@sympa.example.test a été rejeté par moderator@example.test, modérateur de la liste.",
	},
	"sympa-rejection-subscribers-only-en.eml": {
		kind: KindRejection, manager: "sympa", list: "t-5f0dc653@sympa.example.test", tokens: 1, poster: "outsider@example.test",
		reason: "Message distribution in the list is restricted to list subscribers.",
	},
	"sympa-rejection-subscribers-only-fr.eml": {
		kind: KindRejection, manager: "sympa", list: "t-820afd37@sympa.example.test", tokens: 1, poster: "outsider@example.test",
		reason: "La diffusion de messages dans la liste est réservée aux abonnés.",
	},
	"sympa-probe_copy-list-copy.eml": {
		kind: KindProbeCopy, list: "t-c1e3f003@sympa.example.test", tokens: 1, poster: "member@example.test",
	},
	"sympa-probe_copy-dmarc-protection.eml": {
		kind: KindProbeCopy, list: "t-2f12e18e@sympa.example.test", tokens: 1, poster: "member@example.test",
	},
	"sympa-rejection-closed-en.eml": {
		kind: KindRejection, manager: "sympa", list: "t-3400d48b@sympa.example.test", tokens: 1, poster: "member@example.test",
		reason: "Message distribution in this list is not allowed.",
	},
	"sympa-probe_copy-dmarc-name-via-list.eml": {
		kind: KindProbeCopy, list: "t-3f47202c@sympa.example.test", tokens: 1, poster: "member@example.test",
	},
	"sympa-probe_copy-dmarc-name-email-via-list.eml": {
		kind: KindProbeCopy, list: "t-88765c29@sympa.example.test", tokens: 1, poster: "member@example.test",
	},
	"sympa-probe_copy-dmarc-list-for-email-fr.eml": {
		kind: KindProbeCopy, list: "t-4f301a88@sympa.example.test", tokens: 1, poster: "member@example.test",
	},
	"mlmmj-hold_notice-moderated.eml": {
		kind: KindHoldNotice, manager: "mlmmj", list: "t-b83e5193@mlmmj.example.test", tokens: 1, poster: "member@example.test",
		reason: "However, the moderators are being asked to review it before releasing it to the list because this is a moderated list.",
	},
	"mlmmj-hold_notice-nonsubscriber.eml": {
		kind: KindHoldNotice, manager: "mlmmj", list: "t-164f22d7@mlmmj.example.test", tokens: 1, poster: "outsider@example.test",
		reason: "However, the moderators are being asked to review it before releasing it to the list because you are not a subscriber.",
	},
	"mlmmj-moderator_request-moderated.eml": {
		kind: KindModeratorNotice, manager: "mlmmj", list: "t-b83e5193@mlmmj.example.test", tokens: 1, poster: "member@example.test",
		reason: "You are being asked to moderate because this is a moderated list.",
	},
	"mlmmj-moderator_request-nonsubscriber.eml": {
		kind: KindModeratorNotice, manager: "mlmmj", list: "t-164f22d7@mlmmj.example.test", tokens: 1, poster: "outsider@example.test",
		reason: "You are being asked to moderate because the requester is not a subscriber.",
	},
	"mlmmj-rejection-access.eml": {
		kind: KindRejection, manager: "mlmmj", list: "t-118a0ce5@mlmmj.example.test", tokens: 1, poster: "member@example.test",
		reason: "The message from <member@example.test> was unable to be delivered to the list because of an access rule set up by the list administrator.",
	},
	"mlmmj-rejection-maxmailsize.eml": {
		kind: KindRejection, manager: "mlmmj", list: "t-c6720245@mlmmj.example.test", tokens: 1, poster: "member@example.test",
		reason: "The message from <member@example.test> was unable to be delivered to the list because it exceeded the maximum allowed message size of 600 bytes.",
	},
	"mlmmj-rejection-subscribers-only.eml": {
		kind: KindRejection, manager: "mlmmj", list: "t-d1d6d8d0@mlmmj.example.test", tokens: 1, poster: "outsider@example.test",
		reason: "The message from <outsider@example.test> was unable to be delivered to the list because you are not a list subscriber.",
	},
	"mlmmj-rejection-tocc.eml": {
		kind: KindRejection, manager: "mlmmj", list: "t-dd3451ed@mlmmj.example.test", tokens: 1, poster: "member@example.test",
		reason: "The message from <member@example.test> was unable to be delivered to the list because the list address was not found in either the To: or CC: header.",
	},
	"mlmmj-probe_copy-list-copy.eml": {
		kind: KindProbeCopy, list: "t-9f94cdee@mlmmj.example.test", tokens: 1, poster: "member@example.test",
	},
}

// TestRealSympaAndMlmmjMessages: what Sympa 6.2.70 and mlmmj 1.3.0 on the
// testbed really sent is classified with the manager, the list and the
// server's own sentence as the reason; the probe each names verifies and
// claims that list; listprobe may delete what names its probe, never the
// notice that names none; copies are the poster's copies of the list.
func TestRealSympaAndMlmmjMessages(t *testing.T) {
	signer, err := token.NewSigner([]byte(captureKey))
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, pat := range []string{"sympa-*.eml", "mlmmj-*.eml"} {
		m, _ := filepath.Glob(filepath.Join(evidenceFixtureDir, pat))
		names = append(names, m...)
	}
	if len(names) < len(managerFixtures) {
		t.Fatalf("%d Sympa and mlmmj fixtures, want at least %d", len(names), len(managerFixtures))
	}
	for _, path := range names {
		name := filepath.Base(path)
		t.Run(name, func(t *testing.T) {
			want, ok := managerFixtures[name]
			if !ok {
				t.Fatalf("no expectation for %s", name)
			}
			raw, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			h, body := splitEvidenceFixture(t, raw)
			if want.kind != KindProbeCopy && !LooksLikeNotice(h) {
				t.Errorf("LooksLikeNotice = false: its body would not be fetched")
			}
			ev := Classify(h, body)
			if ev.Kind != want.kind || ev.Manager != want.manager || ev.List != want.list || ev.ByTime != want.byTime {
				t.Fatalf("got kind %q manager %q list %q by time %v, want %q %q %q %v", ev.Kind, ev.Manager, ev.List, ev.ByTime, want.kind, want.manager, want.list, want.byTime)
			}
			if ev.Reason != want.reason {
				t.Errorf("Reason = %q\n want %q", ev.Reason, want.reason)
			}
			if len(ev.Tokens) != want.tokens {
				t.Fatalf("%d tokens %q, want %d", len(ev.Tokens), ev.Tokens, want.tokens)
			}
			for _, enc := range ev.Tokens {
				tok, err := signer.Verify(enc)
				if err != nil || tok.List != want.list {
					t.Errorf("token %s: %v, claims %q", enc, err, tok.List)
				}
				if strings.Contains(ev.Reason, tok.ID) {
					t.Errorf("the reason quotes the probe: %q", ev.Reason)
				}
			}
			other := "other@" + strings.SplitN(want.list, "@", 2)[1]
			if want.kind == KindProbeCopy {
				if !ev.IsCopyOf(want.list, want.poster) || !ev.Deletable(want.list, want.poster) {
					t.Errorf("not the poster's copy of the list: %+v", ev)
				}
				if ev.IsCopyOf(other, want.poster) {
					t.Errorf("a copy of another list")
				}
				return
			}
			if got := ev.Deletable(want.list, want.poster); got != (want.tokens > 0) {
				t.Errorf("Deletable = %v, want %v (only what names the probe may go)", got, want.tokens > 0)
			}
			if ev.Deletable(other, want.poster) {
				t.Errorf("Deletable for another list")
			}
		})
	}
}

// readFixture returns a fixture as text with \n line ends, for variants
// built from it.
func readFixture(t *testing.T, name string) string {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(evidenceFixtureDir, name))
	if err != nil {
		t.Fatal(err)
	}
	return strings.ReplaceAll(string(raw), "\r\n", "\n")
}

func classifyText(t *testing.T, raw string) Evidence {
	t.Helper()
	h, body := splitEvidenceFixture(t, []byte(raw))
	return Classify(h, body)
}

func replaceAll(t *testing.T, s string, pairs ...string) string {
	t.Helper()
	for i := 0; i < len(pairs); i += 2 {
		if !strings.Contains(s, pairs[i]) {
			t.Fatalf("fixture lacks %q", pairs[i])
		}
		s = strings.ReplaceAll(s, pairs[i], pairs[i+1])
	}
	return s
}

// Sympa from 6.2.71 tells the poster of a moderated post with a delivery
// status notification (Status 2.3.0, the post's header returned) instead of
// 6.2.70's one line: a hold notice that names the probe, English and
// French (delivery_status_notification.tt2 and fr.po).
func TestSympaForwardedReportNamesTheProbe(t *testing.T) {
	dsn := readFixture(t, "sympa-rejection-subscribers-only-en.eml")
	tok := token.Find(dsn)[0]
	headerOnly := replaceAll(t, dsn, "Content-Type: message/rfc822\nContent-Disposition: inline\n", "Content-Type: text/rfc822-headers\nContent-Disposition: inline\n")
	// Keep only the returned header: Sympa returns nothing else.
	i := strings.Index(headerOnly, "\n\nThis is an automated delivery test")
	j := strings.LastIndex(headerOnly, "\n------------=_")
	headerOnly = headerOnly[:i+2] + headerOnly[j+1:]
	for _, c := range []struct{ subject, text, reason string }{
		{"Message distribution: Forwarded",
			"This is an automatic response sent by Sympa Mailing Lists Manager.\nYour message to the list 't-5f0dc653' has been forwarded to the moderator(s)\n",
			"Your message to the list 't-5f0dc653' has been forwarded to the moderator(s)"},
		{"=?UTF-8?Q?Diffusion_du_message_:_le_message_a_=C3=A9t=C3=A9_transmis?=",
			"Ceci est une réponse automatique du robot de listes Sympa.\nVotre message pour la liste t-5f0dc653 a été transmis au(x) modérateur(s)\n",
			"Votre message pour la liste t-5f0dc653 a été transmis au(x) modérateur(s)"},
	} {
		raw := replaceAll(t, headerOnly,
			"Subject: Message distribution: Authorization denied", "Subject: "+c.subject,
			"Action: failed\nStatus: 5.7.1", "Action: delivered\nStatus: 2.3.0",
			"Diagnostic-Code: X-Sympa; Delivery not authorized, message refused", "Diagnostic-Code: X-Sympa; Forwarded to the moderators",
			`charset="US-ASCII"`, `charset="UTF-8"`, "Content-Transfer-Encoding: 7BIT", "Content-Transfer-Encoding: 8bit",
		)
		start := strings.Index(raw, "This is an automatic response")
		end := strings.Index(raw, "For further information, please contact t-5f0dc653-request@sympa.example.test\n") + len("For further information, please contact t-5f0dc653-request@sympa.example.test\n")
		raw = raw[:start] + c.text + raw[end:]
		ev := classifyText(t, raw)
		if ev.Kind != KindHoldNotice || ev.Manager != ManagerSympa || ev.ByTime || ev.List != "t-5f0dc653@sympa.example.test" ||
			len(ev.Tokens) != 1 || ev.Tokens[0] != tok || ev.Reason != c.reason {
			t.Errorf("%s: %+v, want Sympa's hold notice naming %s with reason %q", c.subject, ev, tok, c.reason)
		}
	}
}

// Sympa's other refusals are delivery status notifications too, with the
// reason on the first line after the text says why: too large (5.2.3, the
// post's header returned), in English and French.
func TestSympaTooLargeReport(t *testing.T) {
	dsn := readFixture(t, "sympa-rejection-subscribers-only-fr.eml")
	tok := token.Find(dsn)[0]
	for _, c := range []struct{ text, reason string }{
		{"This is an automatic response sent by Sympa Mailing Lists Manager.\nImpossible to distribute your message for list 't-820afd37@sympa.example.test'\nfor the following reason:\n\n" +
			"Your message could not be sent because its size (9 kB) was over the maximum size (5 kB) allowed on this list.\n\nNote: Because binary files have to be encoded in less-efficient ASCII format before being sent over email, the final size of an attachment is often significantly larger that the original file.\n\n",
			"Your message could not be sent because its size (9 kB) was over the maximum size (5 kB) allowed on this list."},
		{"Ceci est une r=C3=A9ponse automatique du robot de listes Sympa.\nProbl=C3=A8me de diffusion de votre message pour la liste\n't-820afd37@sympa.example.test' :\n\n" +
			"Votre message n'a pas pu =C3=AAtre envoy=C3=A9 parce que sa taille (9 ko) =C3=A9tait sup=C3=A9rieure =C3=A0 la taille maximum de message autoris=\n=C3=A9e pour cette liste (5 ko).\n\nNote : Comme les fichiers binaires doivent =C3=AAtre encod=C3=A9s.\n\n",
			"Votre message n'a pas pu être envoyé parce que sa taille (9 ko) était supérieure à la taille maximum de message autorisée pour cette liste (5 ko)."},
	} {
		raw := replaceAll(t, dsn, "Status: 5.7.1", "Status: 5.2.3", "Subject: Diffusion de message : erreur d'autorisation", "Subject: Message trop gros")
		start := strings.Index(raw, "Ceci est une r=C3=A9ponse")
		end := strings.Index(raw, "\n------------=_<sympa.1796174032.557922.31566.266@sympa.example.test>\nContent-Type: message/delivery-status")
		raw = raw[:start] + c.text + raw[end+1:]
		ev := classifyText(t, raw)
		if ev.Kind != KindRejection || ev.Manager != ManagerSympa || ev.List != "t-820afd37@sympa.example.test" || len(ev.Tokens) != 1 || ev.Tokens[0] != tok {
			t.Errorf("%+v, want Sympa's rejection naming %s", ev, tok)
		}
		if ev.Reason != c.reason {
			t.Errorf("Reason = %q\n want %q", ev.Reason, c.reason)
		}
	}
	// Without its text, the refusal still says what the report says.
	raw := replaceAll(t, dsn, "Ceci est une r=C3=A9ponse automatique du robot de listes Sympa.", "")
	raw = raw[:strings.Index(raw, "Probl=C3=A8me")] + raw[strings.Index(raw, "\n------------=_<sympa.1796174032.557922.31566.266@sympa.example.test>\nContent-Type: message/delivery-status")+1:]
	if ev := classifyText(t, raw); ev.Kind != KindRejection || ev.Reason != "Delivery not authorized, message refused" {
		t.Errorf("without the text: %+v, want the Diagnostic-Code as the reason", ev)
	}
}

// A list whose scenario asks posters to confirm (send_auth.tt2) holds the
// post until they do: a hold notice naming the attached probe.
func TestSympaConfirmRequestIsAHold(t *testing.T) {
	req := readFixture(t, "sympa-moderator_request-editorkey-en.eml")
	tok := token.Find(req)[0]
	for _, subject := range []string{
		"Confirm your message for list t-ae793767",
		"=?UTF-8?Q?Confirmez_votre_message_pour_la_liste_t-ae793767?=",
		"CONFIRM 0123456789abcdef0123456789abcdef",
	} {
		raw := replaceAll(t, req,
			"From: t-ae793767-request@sympa.example.test", "From: SYMPA <sympa@sympa.example.test>",
			"Subject: Message for list t-ae793767 from member@example.test to be\n approved", "Subject: "+subject,
			"One new message for list t-ae793767 from member@example.test arrived.", "To distribute the attached message in list t-ae793767, click on the URL:",
		)
		ev := classifyText(t, raw)
		if ev.Kind != KindHoldNotice || ev.Manager != ManagerSympa || ev.List != "t-ae793767@sympa.example.test" || len(ev.Tokens) != 1 || ev.Tokens[0] != tok {
			t.Errorf("%s: %+v, want Sympa's hold naming %s", subject, ev, tok)
		}
		if strings.Contains(ev.Reason, "0123456789abcdef") || ev.Reason == "" {
			t.Errorf("%s: reason %q (never the key that releases the post)", subject, ev.Reason)
		}
	}
}

// Words alone make no notice: Sympa's texts sent by a person, or by
// another list's robot about this list's probe, name no probe.
func TestSympaNoticesFromOthers(t *testing.T) {
	hold := readFixture(t, "sympa-hold_notice-editorkey-en.eml")
	person := replaceAll(t, hold, `From: "SYMPA" <sympa@sympa.example.test>`, "From: Alice <alice@example.test>", "Auto-Submitted: auto-replied\n", "", "X-Mailer: Sympa 6.2.70\n", "")
	if ev := classifyText(t, person); ev.Kind != KindUnrelated || ev.ByTime {
		t.Errorf("Sympa's hold text from a person: %+v, want unrelated", ev)
	}
	// From Sympa's address but without any of its marks (a forged or
	// hand-written message): not a notice either.
	bare := replaceAll(t, hold, "Auto-Submitted: auto-replied\n", "", "X-Mailer: Sympa 6.2.70\n", "")
	if ev := classifyText(t, bare); ev.Kind != KindUnrelated {
		t.Errorf("without Sympa's marks: %+v, want unrelated", ev)
	}
	// The moderator request of another list's robot that carries this
	// list's probe names no probe.
	req := readFixture(t, "sympa-moderator_request-editorkey-en.eml")
	other := replaceAll(t, req, "From: t-ae793767-request@sympa.example.test", "From: other-request@sympa.example.test",
		"Subject: Message for list t-ae793767 from member@example.test to be\n approved", "Subject: Message for list other from member@example.test to be approved")
	if ev := classifyText(t, other); ev.Kind != KindModeratorNotice || len(ev.Tokens) != 0 || ev.Deletable("t-ae793767@sympa.example.test", "member@example.test") {
		t.Errorf("another list's request: %+v, want a moderator notice naming no probe", ev)
	}
	// The rejection quoting a person's reply to the probe names no probe.
	rej := readFixture(t, "sympa-rejection-moderator-en.eml")
	reply := replaceAll(t, rej, "(Subject of your mail: listprobe", "(Subject of your mail: Re: listprobe")
	if ev := classifyText(t, reply); ev.Kind != KindRejection || len(ev.Tokens) != 0 {
		t.Errorf("rejection of a reply to the probe: %+v, want no probe named", ev)
	}
}

// The hold notice is recognised whether or not its body came: without it,
// it is not known which list it is about, and it is no evidence at all.
func TestSympaHoldNoticeWithoutBody(t *testing.T) {
	h, _ := splitEvidenceFixture(t, []byte(readFixture(t, "sympa-hold_notice-editorkey-en.eml")))
	if !LooksLikeNotice(h) {
		t.Fatal("LooksLikeNotice = false")
	}
	if ev := Classify(h, nil); ev.Kind != KindUnrelated || ev.ByTime {
		t.Errorf("without its body: %+v, want unrelated (it names no list)", ev)
	}
}

// Sympa's DMARC protection rewrites From in every phrase mode; the copy is
// still the list's copy of the poster's probe, and a message "from" the
// list that carries the probe's Message-ID but another list's List-Id is
// not.
func TestSympaDMARCCopies(t *testing.T) {
	raw := readFixture(t, "sympa-probe_copy-dmarc-name-email-via-list.eml")
	list := "t-88765c29@sympa.example.test"
	for _, from := range []string{
		`"member" (member@example.test via t-88765c29 Mailing List) <t-88765c29@sympa.example.test>`,
		`"member" (via t-88765c29 Mailing List) <t-88765c29@sympa.example.test>`,
		`"Liste t-88765c29" (de la part de member) <t-88765c29@sympa.example.test>`,
		`"t-88765c29 Mailing List" (on behalf of member@example.test) <t-88765c29@sympa.example.test>`,
		`=?UTF-8?Q?M=C3=A9mbre?= (via t-88765c29 Mailing List) <t-88765c29@sympa.example.test>`,
	} {
		ev := classifyText(t, replaceAll(t, raw, `"member" (member@example.test via t-88765c29 Mailing List) <t-88765c29@sympa.example.test>`, from))
		if ev.Kind != KindProbeCopy || ev.From != list || !ev.IsCopyOf(list, "member@example.test") || !ev.Deletable(list, "member@example.test") {
			t.Errorf("From %s: %+v, want the list's copy", from, ev)
		}
	}
	wrongID := replaceAll(t, raw, "List-Id: <t-88765c29.sympa.example.test>", "List-Id: <other.sympa.example.test>")
	if ev := classifyText(t, wrongID); ev.IsCopyOf(list, "someone@example.test") || ev.IsCopyOf(list, "member@example.test") {
		t.Errorf("another List-Id: %+v is a copy", ev)
	}
}

// mlmmj writes its notices in the language the list was made with: the
// subjects of every language it ships are known, and the reason is the
// list text's sentence with the post's subject left out. French and German
// variants of the real notices, with the wording of text.skel/fr and /de.
func TestMlmmjNoticesInOtherLanguages(t *testing.T) {
	deny := readFixture(t, "mlmmj-rejection-subscribers-only.eml")
	hold := readFixture(t, "mlmmj-hold_notice-moderated.eml")
	denyTok, holdTok := token.Find(deny)[0], token.Find(hold)[0]
	denyText := deny[strings.Index(deny, "Hi, this is the Mlmmj"):strings.Index(deny, "(The denied message is below.)")]
	holdText := hold[strings.Index(hold, "Hi, this is the Mlmmj"):strings.Index(hold, "(The message is below.)")]
	for _, c := range []struct {
		name, raw, subjectFrom, subjectTo, textFrom, textTo string
		kind                                                Kind
		tok, reason                                         string
	}{
		{"fr deny", deny,
			"=?utf-8?q?Post_to_t-d1d6d8d0=40mlmmj.example.test_denied:_", "=?utf-8?q?Message_=C3=A0_t-d1d6d8d0=40mlmmj.example.test_refus=C3=A9_:_",
			denyText, "Hi, c'est le programme Mlmmj gérant la liste <t-d1d6d8d0@mlmmj.example.test>.\n\n" +
				"Le message de <outsider@example.test> ayant pour sujet \"listprobe delivery test\n" + denyTok + "\" n'a pas pu\nêtre délivré à la liste parce que vous n'êtes pas un inscrit de la liste.\n\n",
			KindRejection, denyTok,
			`Le message de <outsider@example.test> ayant pour sujet "…" n'a pas pu être délivré à la liste parce que vous n'êtes pas un inscrit de la liste.`},
		{"de hold", hold,
			"=?utf-8?q?Awaiting_release_to_t-b83e5193=40mlmmj.example.test:_", "=?utf-8?q?Warte_auf_Moderation_f=C3=BCr_t-b83e5193=40mlmmj.example.test:_",
			holdText, "Hallo, hier ist das Programm Mlmmj, welches die Mailingliste\n<t-b83e5193@mlmmj.example.test> verwaltet.\n\n" +
				"Die Mail von <member@example.test> mit dem Betreff \"listprobe delivery test " + holdTok + "\" wurde an die\nListe eingereicht. Jedoch ist vor der Weiterleitung eine Moderation\nerforderlich, da es sich um eine moderierte Liste handelt.\n\n",
			KindHoldNotice, holdTok,
			`Jedoch ist vor der Weiterleitung eine Moderation erforderlich, da es sich um eine moderierte Liste handelt.`},
		{"zh-cn hold", hold,
			"=?utf-8?q?Awaiting_release_to_t-b83e5193=40mlmmj.example.test:_", "=?utf-8?q?=E7=AD=89=E5=BE=85=E5=8F=91=E5=B8=83=E5=88=B0_t-b83e5193=40mlmmj.example.test=EF=BC=9A",
			holdText, "您好，这是管理 <t-b83e5193@mlmmj.example.test> 邮件列表的 Mlmmj 程序。\n\n" +
				"来自 <member@example.test> 题为《listprobe delivery test " + holdTok + "》的邮件已提交至列表。然而，因为这是先审列表，需要版主审核后才能发布到该列表。\n\n",
			KindHoldNotice, holdTok,
			`然而，因为这是先审列表，需要版主审核后才能发布到该列表。`},
	} {
		raw := replaceAll(t, c.raw, c.subjectFrom, c.subjectTo, c.textFrom, c.textTo)
		ev := classifyText(t, raw)
		if ev.Kind != c.kind || ev.Manager != ManagerMlmmj || len(ev.Tokens) != 1 || ev.Tokens[0] != c.tok {
			t.Errorf("%s: %+v, want mlmmj's %s naming %s", c.name, ev, c.kind, c.tok)
		}
		if ev.Reason != c.reason {
			t.Errorf("%s: Reason = %q\n want %q", c.name, ev.Reason, c.reason)
		}
	}
	// Every subject of every shipped language parses, with the list and
	// the post's subject where the template puts them.
	for _, ms := range mlmmjSubjects {
		subject := collapse(strings.NewReplacer("$list$@$domain$", "t-1@mlmmj.example.test", "$subject$", "listprobe delivery test "+holdTok).Replace(ms.tmpl))
		found := false
		for _, re := range mlmmjSubjectRes {
			if g := re.re.FindStringSubmatch(subject); g != nil {
				found = true
				if re.kind != ms.kind || g[re.list] != "t-1@mlmmj.example.test" || g[re.post] != "listprobe delivery test "+holdTok {
					t.Errorf("%q: kind %s, list %q, post %q", subject, re.kind, g[re.list], g[re.post])
				}
				break
			}
		}
		if !found {
			t.Errorf("%q is not recognised", subject)
		}
	}
}

// What makes an mlmmj notice is its robot address and its Message-ID, not
// its words: the same text from a person, from the robot without mlmmj's
// Message-ID, or from another list's robot is no notice of the list's.
func TestMlmmjNoticesFromOthers(t *testing.T) {
	deny := readFixture(t, "mlmmj-rejection-tocc.eml")
	for name, raw := range map[string]string{
		"a person":                   replaceAll(t, deny, "From: t-dd3451ed+owner@mlmmj.example.test", "From: Bob <bob@example.test>"),
		"without mlmmj's Message-ID": replaceAll(t, deny, "1796174036-15679-mlmmj-31d645ff@", "CAF=xyz@"),
		"another list's robot":       replaceAll(t, deny, "From: t-dd3451ed+owner@mlmmj.example.test", "From: other+owner@mlmmj.example.test"),
	} {
		if ev := classifyText(t, raw); len(ev.Tokens) != 0 || ev.Kind == KindRejection {
			t.Errorf("%s: %+v, want no rejection and no probe", name, ev)
		}
	}
	// The moderator's request quoting a person's reply to the probe, with
	// that reply attached: no probe.
	req := readFixture(t, "mlmmj-moderator_request-moderated.eml")
	tok := token.Find(req)[0]
	reply := replaceAll(t, req, "Subject: listprobe delivery test "+tok, "Subject: Re: listprobe delivery test "+tok,
		"Message-ID: <"+tok+"@example.test>", "Message-ID: <reply-1@example.test>",
		"X-Listprobe-Token: "+tok+"\n", "",
		"_listprobe_delivery_test_", "_Re:_listprobe_delivery_test_")
	if ev := classifyText(t, reply); ev.Kind != KindModeratorNotice || len(ev.Tokens) != 0 {
		t.Errorf("request for a reply to the probe: %+v, want a moderator notice naming no probe", ev)
	}
}

// A person who redirects ("bounces") a message keeps its From and
// Message-ID and adds Resent-* fields: a redirected probe copy is not the
// list's copy, and a redirected notice is not the list server's, whoever
// it reaches; neither is ever deleted.
func TestResentMessagesAreNeverCopiesOrNotices(t *testing.T) {
	for _, name := range []string{
		"sympa-probe_copy-list-copy.eml", "mlmmj-probe_copy-list-copy.eml", "probe_copy-mailman3-real-list-copy.eml",
		"mlmmj-hold_notice-moderated.eml", "sympa-moderator_request-editorkey-en.eml", "hold_notice-mailman3-real-moderated-member.eml",
	} {
		raw := readFixture(t, name)
		if ev := classifyText(t, raw); ev.Kind == KindUnrelated {
			t.Fatalf("%s itself is unrelated", name)
		}
		for _, field := range []string{"Resent-From: bob@example.test", "Resent-Message-ID: <r1@example.test>", "Resent-Date: Wed, 02 Dec 2026 01:20:00 +0000", "Resent-Sender: bob@example.test"} {
			ev := classifyText(t, field+"\n"+raw)
			if ev.Kind != KindUnrelated || len(ev.Tokens) != 0 || ev.Deletable(ev.List, "member@example.test") {
				t.Errorf("%s with %s: %+v, want unrelated", name, field, ev)
			}
		}
	}
	for _, f := range []string{"Resent-From", "Resent-Message-Id", "Resent-Sender", "Resent-Date"} {
		found := false
		for _, w := range ClassifyHeaderFields {
			found = found || strings.EqualFold(w, f)
		}
		if !found {
			t.Errorf("%s is not fetched: a mailbox would not see it", f)
		}
	}
}

// A delivery status report that a list's robot address passes on without
// Sympa's marks (no "X-Mailer: Sympa", no X-Sympa diagnostic) is not read
// as Sympa's refusal.
func TestSympaReportNeedsSympasMarks(t *testing.T) {
	dsn := readFixture(t, "sympa-rejection-subscribers-only-en.eml")
	other := replaceAll(t, dsn, "X-Mailer: Sympa 6.2.70\n", "", "Diagnostic-Code: X-Sympa; ", "Diagnostic-Code: smtp; 550 ")
	if ev := classifyText(t, other); ev.Manager == ManagerSympa {
		t.Errorf("%+v, want no Sympa notice", ev)
	}
	if ev := classifyText(t, replaceAll(t, dsn, "X-Mailer: Sympa 6.2.70\n", "")); ev.Manager != ManagerSympa || ev.Kind != KindRejection {
		t.Errorf("with the X-Sympa diagnostic alone: %+v, want Sympa's rejection", ev)
	}
}

// Sympa's notices in the other languages of its 6.2.70 catalogues: the
// real English notices with the translated wording (po/sympa/*.po).
func TestSympaNoticesInOtherLanguages(t *testing.T) {
	hold := readFixture(t, "sympa-hold_notice-editorkey-fr.eml")
	rej := readFixture(t, "sympa-rejection-moderator-fr.eml")
	tok := token.Find(strings.NewReplacer("=\n", "").Replace(rej))[0]
	holdBody := hold[strings.Index(hold, "Votre message pour"):]
	rejBody := rej[strings.Index(rej, "Votre message pour"):]
	for _, c := range []struct{ lang, holdSubject, holdText, rejSubject, rejText, rejReason string }{
		{"de", "Nachrichtenverteilung", "Ihre Nachricht f=C3=BCr Liste t-9d6dcdda wurde an den/die Moderator(en) weitergeleitet\n",
			"Ihre Nachricht wurde abgelehnt", "Ihre Nachricht an die Liste t-9d6dcdda@sympa.example.test wurde durch den\nModerator (moderator@example.test) abgelehnt.\n\n(Betreff Ihrer E-Mail: listprobe delivery test\n" + tok + ")\n",
			"Ihre Nachricht an die Liste t-9d6dcdda@sympa.example.test wurde durch den Moderator (moderator@example.test) abgelehnt."},
		{"es", "=?UTF-8?Q?Distribuci=C3=B3n_del_mensaje?=", "Hemos enviado al moderador tu mensaje a la lista 't-9d6dcdda'\n",
			"Se ha rechazado tu mensaje", "Tu mensaje para la lista t-9d6dcdda@sympa.example.test fue rechazado por el moderador (moderator@example.test).\n\n(Asunto de tu mensaje: listprobe delivery test " + tok[:30] + "\n" + tok[30:] + ")\n",
			"Tu mensaje para la lista t-9d6dcdda@sympa.example.test fue rechazado por el moderador (moderator@example.test)."},
		{"ca", "=?UTF-8?Q?Distribuci=C3=B3_del_missatge?=", "El vostre missatge per a la llista =C2=ABt-9d6dcdda=C2=BB s'ha reenviat als moderadors\n",
			"S'ha rebutjat el vostre missatge", "El vostre missatge per a la llista t-9d6dcdda@sympa.example.test ha estat rebutjat pel moderador (moderator@example.test).\n\n(Assumpte del vostre missatge: listprobe delivery test " + tok + ")\n",
			"El vostre missatge per a la llista t-9d6dcdda@sympa.example.test ha estat rebutjat pel moderador (moderator@example.test)."},
		{"ja", "=?UTF-8?B?44Oh44OD44K744O844K444Gu44KG44GP44GI?=", "=E3=81=82=E3=81=AA=E3=81=9F=E3=81=8C t-9d6dcdda =E3=83=A1=E3=83=BC=E3=83=AA=E3=83=B3=E3=82=B0=E3=83=AA=E3=82=B9=E3=83=88=E5=AE=9B=E3=81=A6=E3=81=AB=E9=80=81=E3=81=A3=E3=81=9F=E3=83=A1=E3=83=83=E3=82=BB=E3=83=BC=E3=82=B8=E3=82=92=E3=80=81=E3=83=A2=E3=83=87=E3=83=AC=E3=83=BC=E3=82=BF (=E3=81=9F=E3=81=A1) =E3=81=AB=E5=9B=9E=E9=80=81=E3=81=97=E3=81=BE=E3=81=97=E3=81=9F=E3=80=82\n",
			"", "", ""},
	} {
		raw := replaceAll(t, hold, "Subject: Diffusion des messages", "Subject: "+c.holdSubject, holdBody, c.holdText)
		ev := classifyText(t, raw)
		if ev.Kind != KindHoldNotice || !ev.ByTime || ev.List != "t-9d6dcdda@sympa.example.test" || !strings.Contains(ev.Reason, "t-9d6dcdda") {
			t.Errorf("%s hold notice: %+v", c.lang, ev)
		}
		if c.rejSubject == "" {
			continue
		}
		raw = replaceAll(t, rej, "Subject: Rejet de votre message", "Subject: "+c.rejSubject, rejBody, c.rejText)
		ev = classifyText(t, raw)
		if ev.Kind != KindRejection || ev.List != "t-9d6dcdda@sympa.example.test" || len(ev.Tokens) != 1 || ev.Tokens[0] != tok || ev.Reason != c.rejReason {
			t.Errorf("%s rejection: %+v", c.lang, ev)
		}
	}
	// The moderators' request is known by its -editor recipient in any
	// language, even one listprobe has no words for.
	req := readFixture(t, "sympa-moderator_request-editorkey-en.eml")
	other := replaceAll(t, req, "Subject: Message for list t-ae793767 from member@example.test to be\n approved", "Subject: =?UTF-8?B?5om/6KqN44GM5b+F6KaB?=")
	if ev := classifyText(t, other); ev.Kind != KindModeratorNotice || ev.List != "t-ae793767@sympa.example.test" || len(ev.Tokens) != 1 {
		t.Errorf("request with an unknown subject: %+v, want the moderators' request", ev)
	}
}
