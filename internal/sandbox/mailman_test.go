package sandbox

import (
	"bytes"
	"encoding/base64"
	"io"
	"mime"
	"mime/multipart"
	"net/mail"
	"regexp"
	"strings"
	"testing"
	"time"
)

func TestMessageIDHashMatchesMailman(t *testing.T) {
	// Computed with Python: b32encode(sha1(b"lp1.test.token@example.org")).
	if got := messageIDHash("<lp1.test.token@example.org>"); got != "JCUIXP4XPP5546MZZXB5PFEEHEX7LZ6F" {
		t.Errorf("messageIDHash = %s", got)
	}
}

func TestFillMatchesPythonTextwrap(t *testing.T) {
	// Expected values from Python's textwrap.TextWrapper(width=70,
	// break_on_hyphens=False, fix_sentence_endings=True).fill, which
	// Mailman's wrap uses.
	tests := []struct{ in, want string }{
		{
			"We have received a message from your address <member@example.org>\nrequesting an automated response from the moderated@lists.example.org mailing list.\n",
			"We have received a message from your address <member@example.org>\nrequesting an automated response from the moderated@lists.example.org\nmailing list.",
		},
		{
			"The number we have seen today: 1.  In order to avoid problems such as\nmail loops between email robots, we will not be sending you any further\nresponses today.  Please try again tomorrow.\n",
			"The number we have seen today: 1.  In order to avoid problems such as\nmail loops between email robots, we will not be sending you any\nfurther responses today.  Please try again tomorrow.",
		},
	}
	for _, tc := range tests {
		if got := fill(tc.in, 70); got != tc.want {
			t.Errorf("fill:\n%s\nwant:\n%s", got, tc.want)
		}
	}
}

func TestWrapKeepsIndentedParagraphs(t *testing.T) {
	in := "Your mail to 'x@lists.example.org' with the subject\n\n    " + strings.Repeat("long ", 30) + "\n\nEnd.\n"
	got := wrap(in, 70)
	want := "Your mail to 'x@lists.example.org' with the subject\n\n    " + strings.Repeat("long ", 30) + "\n\nEnd."
	if got != want {
		t.Errorf("wrap:\n%q\nwant:\n%q", got, want)
	}
}

func TestPrefixSubjectLikeMailman(t *testing.T) {
	tests := map[string]string{
		"hello":                 "[Healthy] hello",
		"Re: hello":             "[Healthy] Re: hello",
		"[Healthy] Re: hello":   "[Healthy] Re: hello",
		"Re: [Healthy] hello":   "[Healthy] Re: hello",
		"RE: AW: hello":         "[Healthy] Re: hello",
		"":                      "[Healthy] (no subject)",
		"=?utf-8?q?caf=C3=A9?=": "[Healthy] café",
	}
	for in, want := range tests {
		if got := prefixSubject("[Healthy] ", in); got != want {
			t.Errorf("prefixSubject(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestListNamesFollowMailmanConventions(t *testing.T) {
	n := newListNames("Announce-Team@Lists.Example.org")
	got := []string{n.fqdn, n.displayName, n.listID, n.bounces(), n.owner(), n.request(), n.join(), n.leave(), n.subjectPrefix()}
	want := []string{"announce-team@lists.example.org", "Announce-team", "announce-team.lists.example.org",
		"announce-team-bounces@lists.example.org", "announce-team-owner@lists.example.org",
		"announce-team-request@lists.example.org", "announce-team-join@lists.example.org",
		"announce-team-leave@lists.example.org", "[Announce-team] "}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("name %d = %q, want %q", i, got[i], want[i])
		}
	}
}

func mustParse(t *testing.T, raw string) *rawMessage {
	t.Helper()
	m, err := parseMessage([]byte(raw))
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func TestListCopyDecoratesEveryBodyShape(t *testing.T) {
	n := newListNames("healthy@lists.example.org")
	foot := footer(n)
	t.Run("quoted-printable text", func(t *testing.T) {
		m := listCopyWith(n, mustParse(t, "From: a@example.org\nSubject: s\nContent-Type: text/plain; charset=us-ascii\nContent-Transfer-Encoding: quoted-printable\n\nsoft=\nbreak\n"), nil, allRuleMisses())
		if got := m.get("Content-Transfer-Encoding"); got != "7bit" {
			t.Errorf("CTE %q", got)
		}
		want := "softbreak\r\n" + strings.ReplaceAll(foot, "\n", "\r\n")
		if string(m.body) != want {
			t.Errorf("body %q, want %q", m.body, want)
		}
	})
	t.Run("utf-8 text", func(t *testing.T) {
		m := listCopyWith(n, mustParse(t, "From: a@example.org\nSubject: s\nContent-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: 8bit\n\ncafé\n"), nil, allRuleMisses())
		if got := m.get("Content-Transfer-Encoding"); got != "base64" {
			t.Fatalf("CTE %q", got)
		}
		dec, err := base64.StdEncoding.DecodeString(strings.ReplaceAll(string(m.body), "\r\n", ""))
		if err != nil {
			t.Fatal(err)
		}
		if string(dec) != "café\n"+foot {
			t.Errorf("decoded body %q", dec)
		}
		if _, params, _ := mime.ParseMediaType(m.get("Content-Type")); params["charset"] != "utf-8" {
			t.Errorf("Content-Type %q", m.get("Content-Type"))
		}
	})
	t.Run("multipart/mixed gets a last part", func(t *testing.T) {
		m := listCopyWith(n, mustParse(t, "From: a@example.org\nSubject: s\nMIME-Version: 1.0\nContent-Type: multipart/mixed; boundary=XX\n\n--XX\nContent-Type: text/plain\n\nhello\n--XX--\n"), nil, allRuleMisses())
		parts := readParts(t, m)
		if len(parts) != 2 || parts[1] != strings.ReplaceAll(foot, "\n", "\r\n") {
			t.Errorf("parts %q", parts)
		}
	})
	t.Run("html is wrapped", func(t *testing.T) {
		m := listCopyWith(n, mustParse(t, "From: a@example.org\nSubject: s\nMIME-Version: 1.0\nContent-Type: text/html\n\n<p>hi</p>\n"), nil, allRuleMisses())
		parts := readParts(t, m)
		if len(parts) != 2 || parts[0] != "<p>hi</p>\r\n" {
			t.Errorf("parts %q", parts)
		}
		if !bytes.Contains(m.body, []byte("\r\nContent-Type: text/html\r\n\r\n<p>hi</p>")) {
			t.Errorf("inner part lost its Content-Type:\n%s", m.body)
		}
	})
}

func readParts(t *testing.T, m *rawMessage) []string {
	t.Helper()
	mt, params, err := mime.ParseMediaType(m.get("Content-Type"))
	if err != nil || mt != "multipart/mixed" {
		t.Fatalf("Content-Type %q: %v", m.get("Content-Type"), err)
	}
	msg, err := mail.ReadMessage(bytes.NewReader(m.bytes()))
	if err != nil {
		t.Fatal(err)
	}
	mr := multipart.NewReader(msg.Body, params["boundary"])
	var out []string
	for {
		p, err := mr.NextRawPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(p)
		out = append(out, string(b))
	}
	return out
}

func TestListCopyHeadersInMailmanOrder(t *testing.T) {
	n := newListNames("healthy@lists.example.org")
	post := mustParse(t, "From: a@example.org\nTo: healthy@lists.example.org\nReply-To: r@example.org\nSubject: s\nMessage-ID: <m@example.org>\n\nbody\n")
	incoming(post, "a@example.org")
	m := listCopyWith(n, post, nil, allRuleMisses())
	var keys []string
	for _, f := range m.fields {
		keys = append(keys, strings.ToLower(f.key))
	}
	// MIME-Version and Content-Type come with the footer: Python's
	// set_payload(text, charset) adds them to a message without them.
	want := strings.ToLower("From To Message-ID X-MailFrom Message-ID-Hash X-Message-ID-Hash X-Mailman-Rule-Misses X-Mailman-Version Precedence Reply-To Subject List-Id List-Help List-Owner List-Post List-Subscribe List-Unsubscribe MIME-Version Content-Type Content-Transfer-Encoding")
	if got := strings.Join(keys, " "); got != want {
		t.Errorf("fields:\n%s\nwant:\n%s", got, want)
	}
	if got := m.get("X-Mailman-Rule-Misses"); got != "dmarc-mitigation; no-senders; approved; emergency; loop; banned-address; member-moderation; nonmember-moderation; administrivia; implicit-dest; max-recipients; max-size; news-moderation; no-subject; suspicious-header" {
		t.Errorf("rule misses %q", got)
	}
}

func TestCanAcknowledgeLikeMailmanReplybot(t *testing.T) {
	tests := map[string]bool{
		"":                               true,
		"Precedence: bulk\n":             false,
		"Precedence: list\n":             false,
		"Precedence: junk\n":             false,
		"Precedence: first-class\n":      true,
		"X-No-Ack: yes\n":                false,
		"X-Ack: no\n":                    false,
		"Auto-Submitted: auto-replied\n": false,
		"Auto-Submitted: no\n":           true,
		"List-Id: <x.example.org>\n":     false,
	}
	for extra, want := range tests {
		m := mustParse(t, "From: a@example.org\nSubject: s\n"+extra+"\nbody\n")
		if got := canAcknowledge(m); got != want {
			t.Errorf("canAcknowledge with %q = %v, want %v", extra, got, want)
		}
	}
}

func TestHoldNoticeRendering(t *testing.T) {
	n := newListNames("moderated@lists.example.org")
	now := time.Date(2026, 11, 25, 16, 0, 0, 0, time.UTC)
	m := holdNotice(n, "member@example.org", "=?utf-8?q?caf=C3=A9?= time", DefaultHoldReason, now)
	got := string(m.bytes())
	got = regexp.MustCompile(`Message-ID: <\d+\.\d+\.\d+@lists\.example\.org>`).ReplaceAllString(got, "Message-ID: <ID>")
	want := strings.ReplaceAll(`MIME-Version: 1.0
Content-Type: text/plain; charset="us-ascii"
Content-Transfer-Encoding: 7bit
Subject: Your message to moderated@lists.example.org awaits moderator approval
From: moderated-bounces@lists.example.org
To: member@example.org
Message-ID: <ID>
Date: Wed, 25 Nov 2026 16:00:00 +0000
Precedence: bulk
X-Mailman-Version: 3.3.8
List-Id: <moderated.lists.example.org>
List-Help: <mailto:moderated-request@lists.example.org?subject=help>
List-Owner: <mailto:moderated-owner@lists.example.org>
List-Subscribe: <mailto:moderated-join@lists.example.org>
List-Unsubscribe: <mailto:moderated-leave@lists.example.org>

Your mail to 'moderated@lists.example.org' with the subject

    caf? time

Is being held until the list moderator can review it for approval.

The message is being held because:

    The message comes from a moderated member

Either the message will get posted to the list, or you will receive
notification of the moderator's decision.
`, "\n", "\r\n")
	if got != want {
		t.Errorf("hold notice:\n%s\nwant:\n%s", got, want)
	}
}
