package checks

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/emersion/go-message/mail"
	"github.com/listprobe/listprobe/checks/compose"
)

// hugeHeader has a 20 MB Subject, From and Content-Type, with a probe
// token only at their ends. It is built field by field: parsing 60 MB in
// the test would cost more than the classifier does.
func hugeHeader() (mail.Header, []byte) {
	tok := evidenceTokens["copysubjectonly2"]
	pad := strings.Repeat("a", 20<<20)
	var h mail.Header
	h.Set("From", "test@lists.example.org "+pad)
	h.Set("Subject", "[Test] "+pad+" "+compose.SubjectPrefix+" "+tok)
	h.Set("Content-Type", "multipart/report; report-type=delivery-status; x=\""+pad+"\"; boundary=b")
	h.Set("List-Id", "<test.lists.example.org>")
	h.Set("Received", "from a by b with SMTP id "+pad+"; Tue, 14 Nov 2023 22:13:21 +0000")
	return h, []byte("--b\r\nContent-Type: text/plain\r\n\r\nhello\r\n--b--\r\n")
}

// manyPartsMessage is a bounce with 10,000 message/rfc822 parts, each a
// returned probe, and a multipart nested 1,000 deep.
func manyPartsMessage(tb testing.TB) []byte {
	tb.Helper()
	tok := evidenceTokens["bouncepostfixhdr"]
	var b strings.Builder
	b.WriteString("From: MAILER-DAEMON@mail.example.org\r\nSubject: Undelivered Mail\r\n" +
		"Content-Type: multipart/report; report-type=delivery-status; boundary=top\r\n\r\n" +
		"--top\r\nContent-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; x\r\n\r\n" +
		"Final-Recipient: rfc822; test@lists.example.org\r\nAction: failed\r\nStatus: 5.0.0\r\n\r\n")
	for i := 0; i < 10000; i++ {
		fmt.Fprintf(&b, "--top\r\nContent-Type: message/rfc822\r\n\r\nMessage-ID: <%s@example.org>\r\nSubject: part %d\r\n\r\nbody\r\n", tok, i)
	}
	b.WriteString("--top\r\nContent-Type: multipart/mixed; boundary=d0\r\n\r\n")
	for d := 1; d < 1000; d++ {
		fmt.Fprintf(&b, "--d%d\r\nContent-Type: multipart/mixed; boundary=d%d\r\n\r\n", d-1, d)
	}
	b.WriteString("--top--\r\n")
	return []byte(b.String())
}

// TestClassifyBoundedWhateverArrives: a 20 MB header and a 10,000-part,
// 1,000-deep body are read only up to the classifier's bounds: what is
// beyond them is never seen (the token at the end of the Subject), and the
// walk stops at maxParts parts.
func TestClassifyBoundedWhateverArrives(t *testing.T) {
	h, body := hugeHeader()
	if s := decodedSubject(h); len(s) > maxFieldBytes {
		t.Errorf("decoded Subject is %d bytes, want at most %d", len(s), maxFieldBytes)
	}
	ev := Classify(h, body)
	if len(ev.Tokens) != 0 || ev.Kind == KindProbeCopy {
		t.Errorf("a token 20 MB into the Subject was read: %+v", ev)
	}
	if len(ev.From) > maxFieldBytes || len(ev.Reason) > maxReasonLen+3 {
		t.Errorf("From %d bytes, Reason %d bytes", len(ev.From), len(ev.Reason))
	}
	LooksLikeNotice(h)
	if hops := Hops(h); len(hops) != 1 || hops[0].By != "b" {
		t.Errorf("Hops of a 20 MB Received field: %+v", hops)
	}

	h, body = splitEvidenceFixture(t, manyPartsMessage(t))
	pb := parseBody(h, body)
	if pb.parts > maxParts+1 {
		t.Errorf("visited %d parts, want at most %d", pb.parts, maxParts+1)
	}
	if len(pb.attached) >= maxParts || len(pb.reports) == 0 {
		t.Errorf("%d attached messages, %d report blocks", len(pb.attached), len(pb.reports))
	}
	ev = Classify(h, body)
	if ev.Kind != KindBounce || len(ev.Tokens) != 1 {
		t.Errorf("%+v, want one bounce naming its probe once", ev)
	}
	if got := originalMessageIDs(parseBody(h, body)); len(got) != 1 {
		t.Errorf("originalMessageIDs = %d ids, want the one repeated id", len(got))
	}

	// Nested deeper than maxDepth: the walk stops at that depth.
	var deep strings.Builder
	deep.WriteString("Content-Type: multipart/mixed; boundary=d0\r\nFrom: MAILER-DAEMON@x.example\r\n\r\n")
	for d := 1; d < 200; d++ {
		fmt.Fprintf(&deep, "--d%d\r\nContent-Type: multipart/mixed; boundary=d%d\r\n\r\n", d-1, d)
	}
	h, body = splitEvidenceFixture(t, []byte(deep.String()))
	if pb := parseBody(h, body); pb.parts > maxDepth+2 {
		t.Errorf("nested multiparts: visited %d parts, want at most %d", pb.parts, maxDepth+2)
	}

	// A body beyond maxBodyBytes is cut there.
	big := append([]byte("From: MAILER-DAEMON@x.example\r\nSubject: failure notice\r\n\r\n"), []byte(strings.Repeat("x", maxBodyBytes)+"\r\n<test@lists.example.org>:\r\n550 5.1.1 late\r\n")...)
	h, body = splitEvidenceFixture(t, big)
	if ev := Classify(h, body); strings.Contains(ev.Reason, "late") || ev.Recipient != "" {
		t.Errorf("read past maxBodyBytes: %+v", ev)
	}
	if text := parseBody(h, body).text(); len(text) > maxTextBytes+3 {
		t.Errorf("notice text of %d bytes, want at most %d", len(text), maxTextBytes)
	}
}

// BenchmarkClassify classifies every evidence fixture, then the hostile
// messages of TestClassifyBoundedWhateverArrives.
func BenchmarkClassify(b *testing.B) {
	paths, _ := filepath.Glob(filepath.Join(evidenceFixtureDir, "*.eml"))
	var fixtures [][]byte
	for _, p := range paths {
		raw, err := os.ReadFile(p)
		if err != nil {
			b.Fatal(err)
		}
		fixtures = append(fixtures, raw)
	}
	b.Run("fixtures", func(b *testing.B) {
		type split struct {
			h    mail.Header
			body []byte
		}
		var all []split
		for _, f := range fixtures {
			h, body := splitEvidenceFixture(b, f)
			all = append(all, split{h, body})
		}
		b.ReportAllocs()
		for b.Loop() {
			for _, s := range all {
				Classify(s.h, s.body)
			}
		}
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(all)), "ns/message")
	})
	b.Run("20MB-header", func(b *testing.B) {
		h, body := hugeHeader()
		b.ReportAllocs()
		for b.Loop() {
			Classify(h, body)
		}
	})
	b.Run("4MB-plain-bounce", func(b *testing.B) {
		h, body := splitEvidenceFixture(b, []byte("From: MAILER-DAEMON@x.example\r\nSubject: failure notice\r\n\r\n"+strings.Repeat("x", 4<<20)))
		b.ReportAllocs()
		for b.Loop() {
			Classify(h, body)
		}
	})
	b.Run("10000-parts", func(b *testing.B) {
		h, body := splitEvidenceFixture(b, manyPartsMessage(b))
		b.ReportAllocs()
		for b.Loop() {
			Classify(h, body)
		}
	})
}
