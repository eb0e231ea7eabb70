package checks

import (
	"bufio"
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-message"
	"github.com/emersion/go-message/mail"
	"github.com/emersion/go-message/textproto"
	"github.com/listprobe/listprobe/checks/token"
)

// evidenceFixtureKey signed the tokens in testdata/evidence (see
// generate.py there); hold_notice-mailman3-forged-token.eml carries one
// signed with another key.
const evidenceFixtureKey = "listprobe-evidence-fixture-key-1"

const evidenceFixtureDir = "testdata/evidence"

// evidenceTokens are the tokens the fixtures carry, by probe id.
var evidenceTokens = map[string]string{
	"copymm3listcopy2": "lp1.copymm3listcopy2.1700000000.orsxg5canruxg5dtfzsxqylnobwgkltpojtq.u7fx5m7tbwaqxpxqpuqxpcje",
	"copysubjectonly2": "lp1.copysubjectonly2.1700000000.orsxg5canruxg5dtfzsxqylnobwgkltpojtq.7kqobxpt5vqlphy5xbwnh7fc",
	"holdmm3moderated": "lp1.holdmm3moderated.1700000000.orsxg5canruxg5dtfzsxqylnobwgkltpojtq.b6crh6nft2rlpdbcypsrrdxx",
	"holdmm3nonmember": "lp1.holdmm3nonmember.1700000000.orsxg5canruxg5dtfzsxqylnobwgkltpojtq.ztvajezu5dbapvedngblytnf",
	"holdmm2nonmember": "lp1.holdmm2nonmember.1700000000.orsxg5canruxg5dtfzsxqylnobwgkltpojtq.lkplhtvnj62vqd7cno5glgmb",
	"holdforgedtoken2": "lp1.holdforgedtoken2.1700000000.orsxg5canruxg5dtfzsxqylnobwgkltpojtq.lwklyuxmycz2lbsiccsi43j3",
	"modmm3moderated2": "lp1.modmm3moderated2.1700000000.orsxg5canruxg5dtfzsxqylnobwgkltpojtq.4uf6feo3hu7z5i2qt3vbxvvr",
	"modmm2nonmember2": "lp1.modmm2nonmember2.1700000000.orsxg5canruxg5dtfzsxqylnobwgkltpojtq.5u7xjkptelyjhbwxzpnn7gqj",
	"rejmm3automatic2": "lp1.rejmm3automatic2.1700000000.orsxg5canruxg5dtfzsxqylnobwgkltpojtq.rlxq7nsbiiejwaryij5rnf7q",
	"rejmm3moderator2": "lp1.rejmm3moderator2.1700000000.orsxg5canruxg5dtfzsxqylnobwgkltpojtq.7ylpavy4eym7w6q532gosipy",
	"rejmm2nonmember2": "lp1.rejmm2nonmember2.1700000000.orsxg5canruxg5dtfzsxqylnobwgkltpojtq.igxjbd2pmnb2fk7jmemdtvcu",
	"rejmm2moderator2": "lp1.rejmm2moderator2.1700000000.orsxg5canruxg5dtfzsxqylnobwgkltpojtq.uxv6fwltvfm3kbhd7odirwgu",
	"bouncepostfixunk": "lp1.bouncepostfixunk.1700000000.nzxwy2ltoragy2ltorzs4zlymfwxa3dffzxxezy.ea5basqqsbxouryrn26ty4km",
	"bouncepostfixhdr": "lp1.bouncepostfixhdr.1700000000.orsxg5canruxg5dtfzsxqylnobwgkltpojtq.tctyabucpntuf5uobpexpgt6",
	"bounceeximreject": "lp1.bounceeximreject.1700000000.orsxg5canruxg5dtfzsxqylnobwgkltpojtq.jkjc2u5wndp5ps3trsflikcp",
	"bouncedovecotqta": "lp1.bouncedovecotqta.1700000000.orsxg5canruxg5dtfzsxqylnobwgkltpojtq.oz62to7qwdpnejdc5iuieguv",
	"bouncemtaqmail22": "lp1.bouncemtaqmail22.1700000000.orsxg5canruxg5dtfzsxqylnobwgkltpojtq.mfqe4qqo2mkmj7gautuz6b5i",
	"bouncesievereje2": "lp1.bouncesievereje2.1700000000.orsxg5canruxg5dtfzsxqylnobwgkltpojtq.5ntixqbr6zheli257vikdpuq",
	"copydmarcmunge22": "lp1.copydmarcmunge22.1700000000.orsxg5canruxg5dtfzsxqylnobwgkltpojtq.w6nty2t4oynecnwkyavpej73",
	"copywrapmessage2": "lp1.copywrapmessage2.1700000000.orsxg5canruxg5dtfzsxqylnobwgkltpojtq.6qckiuhzbbaoi3evjkhnnann",
	"copyanonymous222": "lp1.copyanonymous222.1700000000.orsxg5canruxg5dtfzsxqylnobwgkltpojtq.embtgblbkcur7e3c5ebtgy3h",
	"copysympavia2222": "lp1.copysympavia2222.1700000000.orsxg5canruxg5dtfzsxqylnobwgkltpojtq.jcxzdo2wo6e2ajyue7qboxsi",
	"copyapproved2222": "lp1.copyapproved2222.1700000000.orsxg5canruxg5dtfzsxqylnobwgkltpojtq.7gootnfpfjya744b43co3ei3",
	"bouncelostheader": "lp1.bouncelostheader.1700000000.orsxg5canruxg5dtfzsxqylnobwgkltpojtq.jdofvuydfe5wvywhsuavlysb",
	"dsnlatindiagnost": "lp1.dsnlatindiagnost.1700000000.orsxg5canruxg5dtfzsxqylnobwgkltpojtq.gwqaest3gurmuuancyu2e72n",
	"dsnisojapanese22": "lp1.dsnisojapanese22.1700000000.orsxg5canruxg5dtfzsxqylnobwgkltpojtq.urtxjsi2hxktgvjxx72uoz7f",
}

// evidenceExpectation is what Classify must make of one fixture beyond its
// kind (which the file name gives).
type evidenceExpectation struct {
	manager string
	list    string
	reason  string
	tokens  []string // probe ids, in the order Classify reports them
	forged  bool     // the tokens do not verify with evidenceFixtureKey
	copy    Copy     // how a probe copy carries its probe
	// fromList: a copy whose From is the list itself (IsCopyOf holds for
	// any poster); otherwise a copy must come from the poster.
	fromList  bool
	recipient string // a bounce's failed recipient
	approved  string // a copy's X-Mailman-Approved-At, RFC 3339; "-" approved without a time
}

var evidenceExpectations = map[string]evidenceExpectation{
	"probe_copy-mailman3-list-copy.eml": {
		list: "test@lists.example.org", tokens: []string{"copymm3listcopy2"}, copy: CopyByMessageID,
	},
	"probe_copy-stripped-headers.eml": {
		list: "test@lists.example.org", tokens: []string{"copysubjectonly2"}, copy: CopyFromList, fromList: true,
	},
	"probe_copy-mailman3-dmarc-munge-from.eml": {
		list: "test@lists.example.org", tokens: []string{"copydmarcmunge22"}, copy: CopyByMessageID, fromList: true,
	},
	"probe_copy-mailman3-wrap-message.eml": {
		list: "test@lists.example.org", tokens: []string{"copywrapmessage2"}, copy: CopyWrapped, fromList: true,
	},
	"probe_copy-mailman3-anonymous-list.eml": {
		list: "test@lists.example.org", tokens: []string{"copyanonymous222"}, copy: CopyFromList, fromList: true,
	},
	"probe_copy-sympa-dmarc-via.eml": {
		list: "test@lists.example.org", tokens: []string{"copysympavia2222"}, copy: CopyByMessageID, fromList: true,
	},
	"probe_copy-mailman3-approved-by-moderator.eml": {
		list: "test@lists.example.org", tokens: []string{"copyapproved2222"}, copy: CopyByMessageID,
		approved: "2023-11-14T22:15:05Z",
	},
	"hold_notice-mailman3-other-lists-probe.eml": {
		manager: "mailman3", list: "other@lists.example.org", reason: "The message comes from a moderated member",
	},
	"bounce-postfix-returned-header-lost-token.eml": {
		manager: "dsn", list: "test@lists.example.org", recipient: "test@lists.example.org",
		reason: "550 5.7.1 Posting to this list is restricted", tokens: []string{"bouncelostheader"},
	},
	"bounce-exim-latin1-diagnostic.eml": {
		manager: "dsn", list: "test@lists.example.org", recipient: "test@lists.example.org",
		reason: "550 5.1.1 Empfänger unbekannt, bitte später nicht erneut versuchen", tokens: []string{"dsnlatindiagnost"},
	},
	"bounce-iso-2022-jp-notification.eml": {
		manager: "dsn", list: "test@lists.example.org", recipient: "test@lists.example.org",
		reason: "5.1.1 配送できませんでした: 宛先のメーリングリストは存在しません", tokens: []string{"dsnisojapanese22"},
	},
	"unrelated-forward-outlook-spanish-rv.eml":    {},
	"unrelated-forward-italian-i.eml":             {},
	"unrelated-forward-netscape-attached.eml":     {},
	"unrelated-forward-pine-fwd-suffix.eml":       {},
	"unrelated-reply-quoting-probe-in-body.eml":   {},
	"unrelated-probe-attached-by-person.eml":      {},
	"unrelated-mailman3-mime-digest.eml":          {},
	"unrelated-mailman2-plain-digest.eml":         {},
	"unrelated-anonymous-list-reply-to-probe.eml": {},
	"unrelated-dsn-for-one-subscriber.eml":        {},
	"hold_notice-mailman3-moderated-member.eml": {
		manager: "mailman3", list: "test@lists.example.org",
		reason: "The message comes from a moderated member", tokens: []string{"holdmm3moderated"},
	},
	"hold_notice-mailman3-nonmember-base64.eml": {
		manager: "mailman3", list: "test@lists.example.org",
		reason: "The message is not from a list member; The message is larger than the 40 KB maximum size",
		tokens: []string{"holdmm3nonmember"},
	},
	"hold_notice-mailman3-forged-token.eml": {
		manager: "mailman3", list: "test@lists.example.org",
		reason: "The message comes from a moderated member", tokens: []string{"holdforgedtoken2"}, forged: true,
	},
	"hold_notice-mailman3-someone-elses-post.eml": {
		manager: "mailman3", list: "test@lists.example.org", reason: "The message is not from a list member",
	},
	"hold_notice-mailman2-nonmember.eml": {
		manager: "mailman2", list: "test@lists.example.org",
		reason: "Post by non-member to a members-only list", tokens: []string{"holdmm2nonmember"},
	},
	"moderator_notice-mailman3-moderated-member.eml": {
		manager: "mailman3", list: "test@lists.example.org",
		reason: "The message comes from a moderated member", tokens: []string{"modmm3moderated2"},
	},
	"moderator_notice-mailman3-someone-elses-post.eml": {
		manager: "mailman3", list: "test@lists.example.org", reason: "The message is not from a list member",
	},
	"moderator_notice-mailman2-nonmember.eml": {
		manager: "mailman2", list: "test@lists.example.org",
		reason: "Post by non-member to a members-only list", tokens: []string{"modmm2nonmember2"},
	},
	"rejection-mailman3-moderated-member.eml": {
		manager: "mailman3", list: "test@lists.example.org",
		reason: "The message comes from a moderated member", tokens: []string{"rejmm3automatic2"},
	},
	"rejection-mailman3-moderator-refused.eml": {
		manager: "mailman3", list: "test@lists.example.org",
		reason: "Automated test posts are not wanted on this list, please stop sending them",
		tokens: []string{"rejmm3moderator2"},
	},
	"rejection-mailman2-nonmember.eml": {
		manager: "mailman2", list: "test@lists.example.org",
		reason: "Your message has been rejected, probably because you are not subscribed to the mailing list " +
			"and the list's policy is to prohibit non-members from posting to it. If you think that your messages " +
			"are being rejected in error, contact the mailing list owner at test-owner@lists.example.org.",
		tokens: []string{"rejmm2nonmember2"},
	},
	"rejection-mailman2-moderator-refused.eml": {
		manager: "mailman2", list: "test@lists.example.org",
		reason: "Non-members are not allowed to post messages to this list.", tokens: []string{"rejmm2moderator2"},
	},
	"notice_limit-mailman3.eml": {manager: "mailman3", list: "test@lists.example.org"},
	"notice_limit-mailman2.eml": {manager: "mailman2", list: "test@lists.example.org"},
	"bounce-postfix-unknown-list.eml": {
		manager: "dsn", list: "nolist@lists.example.org",
		reason: "550 5.1.1 <nolist@lists.example.org>: Recipient address rejected: User unknown in local recipient table",
		tokens: []string{"bouncepostfixunk"},
	},
	"bounce-postfix-headers-only.eml": {
		manager: "dsn", list: "test@lists.example.org",
		reason: "552 5.3.4 Message size exceeds fixed limit", tokens: []string{"bouncepostfixhdr"},
	},
	"bounce-exim-rejected.eml": {
		manager: "dsn", list: "test@lists.example.org",
		reason: "550 5.7.1 Posting to this list is restricted", tokens: []string{"bounceeximreject"},
	},
	"bounce-dovecot-quota.eml": {
		manager: "dsn", list: "test@lists.example.org",
		reason: "5.2.2 Your message to <test@lists.example.org> was automatically rejected: " +
			"Quota exceeded (mailbox for user is full)",
		tokens: []string{"bouncedovecotqta"},
	},
	"bounce-dovecot-sieve-reject.eml": {
		manager: "dsn", list: "test@lists.example.org",
		reason: "Your message to <test@lists.example.org> was automatically rejected: " +
			"Posts from monitoring accounts are not accepted here",
		tokens: []string{"bouncesievereje2"},
	},
	"bounce-mta-qmail-plain.eml": {
		manager: "mta", list: "test@lists.example.org",
		reason: "Remote host said: 550 5.1.1 <test@lists.example.org>: Recipient address rejected: list closed",
		tokens: []string{"bouncemtaqmail22"},
	},
	"unrelated-forwarded-hold-notice.eml":     {},
	"unrelated-reply-quoting-hold-notice.eml": {},
	"unrelated-reply-to-probe-copy.eml":       {},
	"unrelated-postfix-delay-warning.eml":     {},
	"unrelated-mailman3-welcome.eml":          {},
}

// splitEvidenceFixture splits a raw message into the header fields a
// mailbox fetches (ClassifyHeaderFields) and the raw body, as Classify gets
// them in production.
func splitEvidenceFixture(t testing.TB, raw []byte) (mail.Header, []byte) {
	t.Helper()
	r := bytes.NewReader(raw)
	br := bufio.NewReader(r)
	full, err := textproto.ReadHeader(br)
	if err != nil {
		t.Fatalf("reading header: %v", err)
	}
	body := raw[len(raw)-br.Buffered()-r.Len():]
	return watchedOnly(full), body
}

// watchedOnly keeps the fields a mailbox fetches and Classify reads
// (ClassifyHeaderFields), in their order.
func watchedOnly(full textproto.Header) mail.Header {
	var h textproto.Header
	wanted := map[string]bool{}
	for _, w := range ClassifyHeaderFields {
		wanted[strings.ToLower(w)] = true
	}
	fields := full.Fields()
	var kept [][2]string
	for fields.Next() {
		if !wanted[strings.ToLower(fields.Key())] {
			continue
		}
		raw, err := fields.Raw()
		if err == nil {
			kept = append(kept, [2]string{fields.Key(), string(raw)})
		} else {
			kept = append(kept, [2]string{fields.Key(), fields.Key() + ": " + fields.Value() + "\r\n"})
		}
	}
	// textproto.Header.AddRaw prepends: add in reverse to keep the order.
	for i := len(kept) - 1; i >= 0; i-- {
		h.AddRaw([]byte(kept[i][1]))
	}
	return mail.Header{Header: message.Header{Header: h}}
}

// withLineEnds returns raw with every line ending rewritten as nl.
func withLineEnds(raw []byte, nl string) []byte {
	s := strings.ReplaceAll(string(raw), "\r\n", "\n")
	return []byte(strings.ReplaceAll(s, "\n", nl))
}

func evidenceFixtures(t testing.TB) []string {
	t.Helper()
	paths, err := filepath.Glob(filepath.Join(evidenceFixtureDir, "*.eml"))
	if err != nil || len(paths) == 0 {
		t.Fatalf("no fixtures in %s: %v", evidenceFixtureDir, err)
	}
	return paths
}

// kindFromFixtureName reads the expected kind from a fixture's name: the
// part before the first "-", or after a list manager's name
// ("sympa-hold_notice-...", as the testbed's captures are named), where
// "moderator_request" stands for a moderator_notice.
func kindFromFixtureName(name string) (Kind, bool) {
	prefix, rest, _ := strings.Cut(name, "-")
	for _, lm := range listManagers {
		if prefix == lm.name {
			prefix, _, _ = strings.Cut(rest, "-")
		}
	}
	if prefix == "moderator_request" {
		prefix = string(KindModeratorNotice)
	}
	k := Kind(prefix)
	switch k {
	case KindProbeCopy, KindHoldNotice, KindModeratorNotice, KindRejection, KindBounce, KindNoticeLimit, KindUnrelated:
		return k, true
	}
	return "", false
}

// TestClassifyEvidenceFixtures walks every saved message, including any
// captured from a real server and dropped in later with the same naming,
// and checks the kind its name promises, with LF and with CRLF line ends.
func TestClassifyEvidenceFixtures(t *testing.T) {
	signer, err := token.NewSigner([]byte(evidenceFixtureKey))
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, path := range evidenceFixtures(t) {
		name := filepath.Base(path)
		seen[name] = true
		t.Run(name, func(t *testing.T) {
			want, ok := kindFromFixtureName(name)
			if !ok {
				t.Fatalf("fixture name %q does not start with a kind followed by \"-\"", name)
			}
			raw, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			var first Evidence
			for i, nl := range []string{"\n", "\r\n"} {
				h, body := splitEvidenceFixture(t, withLineEnds(raw, nl))
				got := Classify(h, body)
				if got.Kind != want {
					t.Fatalf("line ends %q: Classify kind = %q, want %q (evidence %+v)", nl, got.Kind, want, got)
				}
				if i == 0 {
					first = got
				} else if !reflect.DeepEqual(got, first) {
					t.Errorf("CRLF and LF give different evidence:\n LF   %+v\n CRLF %+v", first, got)
				}
			}
			if want == KindUnrelated && (first.Manager != "" || len(first.Tokens) > 0) {
				t.Errorf("unrelated message carries evidence: %+v", first)
			}
			exp, ok := evidenceExpectations[name]
			checkEvidenceInvariants(t, raw, first, ok && len(exp.tokens) == 0)
			if !ok {
				t.Logf("no expectation table entry for %s: kind checked only", name)
				return
			}
			checkEvidence(t, signer, first, exp)
		})
	}
	for name := range evidenceExpectations {
		if !seen[name] {
			t.Errorf("expectation for %s, but no such fixture", name)
		}
	}
}

// checkEvidenceInvariants holds for every fixture, including those captured
// later without a table entry: evidence names its manager, list and reason,
// a token is reported wherever the raw message plainly carries one, and a
// token claims the list the evidence names.
//
// namesNoProbe: the table says the message names no probe although it
// quotes one (a notice of another list).
func checkEvidenceInvariants(t *testing.T, raw []byte, ev Evidence, namesNoProbe bool) {
	t.Helper()
	for _, s := range []string{ev.Reason, ev.List, ev.Manager, ev.From, ev.ListID, ev.Recipient} {
		checkReadable(t, s)
	}
	switch ev.Kind {
	case KindUnrelated:
		return
	case KindProbeCopy:
		if ev.Manager != "" {
			t.Errorf("probe copy with Manager %q", ev.Manager)
		}
	default:
		if ev.Manager == "" {
			t.Errorf("%s without Manager", ev.Kind)
		}
	}
	if ev.List == "" {
		t.Errorf("%s names no list", ev.Kind)
	}
	if ev.Kind != KindNoticeLimit && ev.Kind != KindProbeCopy && ev.Reason == "" {
		t.Errorf("%s gives no reason", ev.Kind)
	}
	plain := strings.NewReplacer("=\r\n", "", "=\n", "").Replace(string(raw))
	if ev.Kind != KindNoticeLimit && !namesNoProbe && len(token.Find(plain)) > 0 && len(ev.Tokens) == 0 {
		t.Errorf("%s carries a token but Classify reports none", ev.Kind)
	}
	for _, tok := range ev.Tokens {
		claimed, err := token.Parse(tok)
		if err != nil {
			t.Errorf("reported token %q does not parse: %v", tok, err)
		} else if claimed.List != ev.List {
			t.Errorf("token claims list %q, evidence names %q", claimed.List, ev.List)
		}
	}
}

func checkEvidence(t *testing.T, signer *token.Signer, got Evidence, exp evidenceExpectation) {
	t.Helper()
	if got.Manager != exp.manager {
		t.Errorf("Manager = %q, want %q", got.Manager, exp.manager)
	}
	if got.List != exp.list {
		t.Errorf("List = %q, want %q", got.List, exp.list)
	}
	if got.Reason != exp.reason {
		t.Errorf("Reason = %q\n want %q", got.Reason, exp.reason)
	}
	if got.Copy != exp.copy {
		t.Errorf("Copy = %q, want %q", got.Copy, exp.copy)
	}
	if got.Kind == KindBounce && got.Recipient != exp.recipient && exp.recipient != "" {
		t.Errorf("Recipient = %q, want %q", got.Recipient, exp.recipient)
	}
	switch {
	case exp.approved == "" && got.Approved:
		t.Errorf("Approved at %v, want not approved", got.ApprovedAt)
	case exp.approved == "-" && (!got.Approved || !got.ApprovedAt.IsZero()):
		t.Errorf("Approved = %v at %v, want approved without a time", got.Approved, got.ApprovedAt)
	case exp.approved != "" && exp.approved != "-" && (!got.Approved || got.ApprovedAt.UTC().Format(time.RFC3339) != exp.approved):
		t.Errorf("Approved = %v at %v, want approved at %s", got.Approved, got.ApprovedAt, exp.approved)
	}
	if got.Kind == KindProbeCopy {
		list := exp.list
		if !got.IsCopyOf(list, "probe@example.org") {
			t.Errorf("IsCopyOf(%s, probe@example.org) = false for %+v", list, got)
		}
		if got.IsCopyOf(list, "someone@example.org") != exp.fromList {
			t.Errorf("IsCopyOf(%s, another poster) = %v, want %v (a copy from the list itself)", list, !exp.fromList, exp.fromList)
		}
		if got.IsCopyOf("other@lists.example.org", "probe@example.org") {
			t.Errorf("IsCopyOf(another list) holds")
		}
	}
	if len(exp.tokens) > 0 && !exp.forged && got.Kind != KindProbeCopy {
		if !got.Deletable(exp.list, "probe@example.org") && exp.manager != "dsn" {
			t.Errorf("a %s of the list's robot naming its probe is not Deletable", got.Kind)
		}
		if got.Deletable("other@lists.example.org", "probe@example.org") {
			t.Errorf("Deletable for another list")
		}
	}
	var want []string
	for _, id := range exp.tokens {
		want = append(want, evidenceTokens[id])
	}
	if !slices.Equal(got.Tokens, want) {
		t.Errorf("Tokens = %q\n want %q", got.Tokens, want)
	}
	for _, tok := range got.Tokens {
		decoded, err := signer.Verify(tok)
		switch {
		case exp.forged && !errors.Is(err, token.ErrForged):
			t.Errorf("token %s verifies (err %v), want token.ErrForged", tok, err)
		case !exp.forged && err != nil:
			t.Errorf("token %s does not verify: %v", tok, err)
		case !exp.forged && exp.list != "" && exp.manager != "dsn" && decoded.List != exp.list:
			t.Errorf("token names list %q, evidence names %q", decoded.List, exp.list)
		}
	}
}

// TestClassifyHumanQuotingANoticeIsUnrelated makes sure words alone never
// make a notice: the same text as a real hold notice, sent by a person.
func TestClassifyHumanQuotingANoticeIsUnrelated(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join(evidenceFixtureDir, "hold_notice-mailman2-nonmember.eml"))
	if err != nil {
		t.Fatal(err)
	}
	h, body := splitEvidenceFixture(t, raw)
	if got := Classify(h, body); got.Kind != KindHoldNotice {
		t.Fatalf("the notice itself: kind %q, want hold_notice", got.Kind)
	}
	h.Set("From", "Alice <alice@example.org>")
	h.Del("X-Mailman-Version")
	h.Del("X-List-Administrivia")
	h.Del("Precedence")
	if got := Classify(h, body); got.Kind != KindUnrelated || len(got.Tokens) != 0 {
		t.Errorf("the same words from a person: %+v, want unrelated without tokens", got)
	}
	// From the list's robot address but without any of Mailman's header
	// fields: not enough either.
	h.Set("From", "test-bounces@lists.example.org")
	if got := Classify(h, body); got.Kind != KindUnrelated {
		t.Errorf("robot address without Mailman's fields: kind %q, want unrelated", got.Kind)
	}
}

// TestClassifyReportOfAnotherType: a mail server's abuse feedback report
// (RFC 5965) quotes the probe but is no bounce.
func TestClassifyReportOfAnotherType(t *testing.T) {
	tok := evidenceTokens["bouncepostfixunk"]
	raw := "From: MAILER-DAEMON@mail.example.org\r\nAuto-Submitted: auto-generated\r\n" +
		"Subject: FW: listprobe delivery test " + tok + "\r\n" +
		"Content-Type: multipart/report; report-type=feedback-report; boundary=arf\r\n\r\n" +
		"--arf\r\nContent-Type: text/plain\r\n\r\nThis is an email abuse report.\r\n" +
		"--arf\r\nContent-Type: message/feedback-report\r\n\r\nFeedback-Type: abuse\r\n\r\n" +
		"--arf\r\nContent-Type: message/rfc822\r\n\r\nMessage-ID: <" + tok + "@example.org>\r\n\r\nbody\r\n--arf--\r\n"
	h, body := splitEvidenceFixture(t, []byte(raw))
	if got := Classify(h, body); got.Kind != KindUnrelated {
		t.Errorf("feedback report: %+v, want unrelated", got)
	}
	// The same report as a delivery status report about the list is a
	// bounce.
	raw = strings.Replace(raw, "report-type=feedback-report", "report-type=delivery-status", 1)
	raw = strings.Replace(raw, "message/feedback-report", "message/delivery-status", 1)
	raw = strings.Replace(raw, "Feedback-Type: abuse\r\n", "Reporting-MTA: dns; mail.example.org\r\n\r\nFinal-Recipient: rfc822; nolist@lists.example.org\r\nAction: failed\r\nStatus: 5.1.1\r\n", 1)
	h, body = splitEvidenceFixture(t, []byte(raw))
	if got := Classify(h, body); got.Kind != KindBounce || !slices.Equal(got.Tokens, []string{tok}) {
		t.Errorf("as a delivery status report: %+v, want a bounce naming %s", got, tok)
	}
}

// TestClassifyMailerDaemonWithoutDomain: some servers write From without a
// domain; the bounce is still one.
func TestClassifyMailerDaemonWithoutDomain(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join(evidenceFixtureDir, "bounce-mta-qmail-plain.eml"))
	if err != nil {
		t.Fatal(err)
	}
	h, body := splitEvidenceFixture(t, raw)
	h.Set("From", "MAILER-DAEMON (Mail Delivery System)")
	if got := Classify(h, body); got.Kind != KindBounce || got.Manager != ManagerMTA {
		t.Errorf("From without domain: %+v, want an mta bounce", got)
	}
}

// TestClassifyReplyToProbeIsUnrelated: a person answering a probe copies
// its subject; the answer is no copy of the probe, even when the list or the
// mail client dropped In-Reply-To and References.
func TestClassifyReplyToProbeIsUnrelated(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join(evidenceFixtureDir, "unrelated-reply-to-probe-copy.eml"))
	if err != nil {
		t.Fatal(err)
	}
	h, body := splitEvidenceFixture(t, raw)
	h.Del("In-Reply-To")
	h.Del("References")
	for _, subject := range []string{
		"Re: [Test] listprobe delivery test " + evidenceTokens["copysubjectonly2"],
		"[Test] AW: listprobe delivery test " + evidenceTokens["copysubjectonly2"],
		"Fwd: listprobe delivery test " + evidenceTokens["copysubjectonly2"],
	} {
		h.Set("Subject", subject)
		if got := Classify(h, body); got.Kind != KindUnrelated {
			t.Errorf("subject %q: %+v, want unrelated", subject, got)
		}
	}
	// The probe's own subject from a person is no copy either; from the
	// list itself (an anonymous list) it is.
	h.Set("Subject", "[Test] listprobe delivery test "+evidenceTokens["copysubjectonly2"])
	if got := Classify(h, body); got.Kind != KindUnrelated {
		t.Errorf("the probe's own subject from a person: kind %q, want unrelated", got.Kind)
	}
	h.Set("From", "Test <test@lists.example.org>")
	if got := Classify(h, body); got.Kind != KindProbeCopy || got.Copy != CopyFromList {
		t.Errorf("the probe's own subject from the list: %+v, want a probe_copy from the list", got)
	}
}

// TestClassifyNoticeWithoutBody covers a notice whose body was not fetched:
// the kind still shows, but there is nothing to name the probe.
func TestClassifyNoticeWithoutBody(t *testing.T) {
	for name, want := range map[string]Kind{
		"hold_notice-mailman3-nonmember-base64.eml": KindHoldNotice,
		"notice_limit-mailman2.eml":                 KindNoticeLimit,
		"moderator_notice-mailman2-nonmember.eml":   KindModeratorNotice,
	} {
		raw, err := os.ReadFile(filepath.Join(evidenceFixtureDir, name))
		if err != nil {
			t.Fatal(err)
		}
		h, _ := splitEvidenceFixture(t, raw)
		got := Classify(h, nil)
		if got.Kind != want || len(got.Tokens) != 0 {
			t.Errorf("%s without body: %+v, want kind %q and no tokens", name, got, want)
		}
	}
}

// TestClassifyTruncatedBounce cuts a bounce at every line: Classify must
// not fail, and once the returned message's Message-ID is in, it names the
// probe.
func TestClassifyTruncatedBounce(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join(evidenceFixtureDir, "bounce-postfix-unknown-list.eml"))
	if err != nil {
		t.Fatal(err)
	}
	h, body := splitEvidenceFixture(t, raw)
	token := evidenceTokens["bouncepostfixunk"]
	idAt := bytes.Index(body, []byte("Message-ID: <"+token))
	if idAt < 0 {
		t.Fatal("fixture lost its returned Message-ID")
	}
	for cut := 0; cut <= len(body); cut++ {
		if cut != len(body) && body[cut] != '\n' {
			continue
		}
		got := Classify(h, body[:cut])
		if got.Kind != KindBounce {
			t.Fatalf("cut at %d: kind %q, want bounce", cut, got.Kind)
		}
		if cut > idAt+len("Message-ID: <"+token+"@example.org>") && !slices.Contains(got.Tokens, token) {
			t.Fatalf("cut at %d, after the returned Message-ID: tokens %q lack the probe's", cut, got.Tokens)
		}
	}
}

// TestLooksLikeNotice: every notice and bounce fixture is worth its body,
// probe copies are not.
func TestLooksLikeNotice(t *testing.T) {
	for _, path := range evidenceFixtures(t) {
		name := filepath.Base(path)
		kind, _ := kindFromFixtureName(name)
		raw, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		h, _ := splitEvidenceFixture(t, raw)
		got := LooksLikeNotice(h)
		switch kind {
		case KindProbeCopy:
			// A copy that kept the probe's token field needs no body; one
			// the list rewrote (anonymous, wrapped) may be fetched whole.
			if got && h.Has(token.Header) {
				t.Errorf("%s: LooksLikeNotice = true for a probe copy", name)
			}
		case KindUnrelated:
		default:
			if !got {
				t.Errorf("%s: LooksLikeNotice = false for a %s", name, kind)
			}
		}
	}
}

func TestOriginalMessageIDsOfNoticesAndBounces(t *testing.T) {
	for name, want := range map[string][]string{
		"bounce-postfix-unknown-list.eml":                {"<" + evidenceTokens["bouncepostfixunk"] + "@example.org>"},
		"bounce-dovecot-sieve-reject.eml":                {"<" + evidenceTokens["bouncesievereje2"] + "@example.org>"},
		"moderator_notice-mailman3-moderated-member.eml": {"<" + evidenceTokens["modmm3moderated2"] + "@example.org>"},
		"hold_notice-mailman3-moderated-member.eml":      nil,
	} {
		raw, err := os.ReadFile(filepath.Join(evidenceFixtureDir, name))
		if err != nil {
			t.Fatal(err)
		}
		h, body := splitEvidenceFixture(t, raw)
		if got := originalMessageIDs(parseBody(h, body)); !slices.Equal(got, want) {
			t.Errorf("%s: originalMessageIDs = %q, want %q", name, got, want)
		}
	}
	// An MDN whose returned header block was cut off still names the
	// original in Original-Message-ID.
	raw, err := os.ReadFile(filepath.Join(evidenceFixtureDir, "bounce-dovecot-sieve-reject.eml"))
	if err != nil {
		t.Fatal(err)
	}
	h, body := splitEvidenceFixture(t, raw)
	body = body[:bytes.Index(body, []byte("Content-Type: message/rfc822"))]
	want := []string{"<" + evidenceTokens["bouncesievereje2"] + "@example.org>"}
	if got := originalMessageIDs(parseBody(h, body)); !slices.Equal(got, want) {
		t.Errorf("truncated MDN: originalMessageIDs = %q, want %q", got, want)
	}
}

// FuzzClassify feeds arbitrary messages to the parsers: they must never
// panic, and what they report must be one of the known kinds.
func FuzzClassify(f *testing.F) {
	paths, _ := filepath.Glob(filepath.Join(evidenceFixtureDir, "*.eml"))
	for _, p := range paths {
		if raw, err := os.ReadFile(p); err == nil {
			f.Add(raw)
		}
	}
	f.Add([]byte("Content-Type: multipart/report; report-type=delivery-status; boundary=x\r\nFrom: MAILER-DAEMON@x\r\n\r\n--x\r\nContent-Type: message/delivery-status\r\n\r\nAction: failed\r\n--x\r\nContent-Type: message/rfc822\r\n\r\nSubject: "))
	f.Fuzz(func(t *testing.T, raw []byte) {
		r := bytes.NewReader(raw)
		br := bufio.NewReader(r)
		full, err := textproto.ReadHeader(br)
		if err != nil {
			full = textproto.Header{}
		}
		h := watchedOnly(full)
		body := raw[len(raw)-br.Buffered()-r.Len():]
		ev := Classify(h, body)
		if _, ok := kindFromFixtureName(string(ev.Kind) + "-"); !ok {
			t.Fatalf("unknown kind %q", ev.Kind)
		}
		for _, tok := range ev.Tokens {
			if len(token.Find(tok)) != 1 {
				t.Fatalf("reported token %q is not a token", tok)
			}
		}
		for _, s := range []string{ev.Reason, ev.List, ev.From, ev.ListID, ev.Recipient} {
			checkReadable(t, s)
		}
		if ev.Kind == KindUnrelated && (len(ev.Tokens) > 0 || ev.Copy != CopyNone) {
			t.Fatalf("unrelated with evidence: %+v", ev)
		}
		if ev.ByTime && (ev.Kind != KindHoldNotice || len(ev.Tokens) > 0 || ev.List == "" || ev.Deletable(ev.List, "")) {
			t.Fatalf("a notice matched by time must be a hold naming its list and no probe, never deletable: %+v", ev)
		}
		if (ev.Kind == KindProbeCopy) != (ev.Copy != CopyNone) {
			t.Fatalf("kind %s with copy %q", ev.Kind, ev.Copy)
		}
		LooksLikeNotice(h)
		Hops(h)
		originalMessageIDs(parseBody(h, body))
	})
}

func BenchmarkClassifyHoldNotice(b *testing.B) {
	raw, err := os.ReadFile(filepath.Join(evidenceFixtureDir, "hold_notice-mailman3-nonmember-base64.eml"))
	if err != nil {
		b.Fatal(err)
	}
	h, body := splitEvidenceFixture(b, raw)
	b.ReportAllocs()
	for b.Loop() {
		if ev := Classify(h, body); ev.Kind != KindHoldNotice {
			b.Fatalf("kind %q", ev.Kind)
		}
	}
}
