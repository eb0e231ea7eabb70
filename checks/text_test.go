package checks

import (
	"bytes"
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"

	"github.com/emersion/go-message/mail"
)

func TestReadableText(t *testing.T) {
	for _, tc := range []struct {
		name string
		in   []byte
		want string
	}{
		{"ascii", []byte("451 4.7.1 try again later"), "451 4.7.1 try again later"},
		{"German Latin-1 SMTP reply", []byte("451 4.7.1 Bitte sp\xe4ter"), "451 4.7.1 Bitte später"},
		{"German DSN", []byte("550 5.1.1 Empf\xe4nger unbekannt"), "550 5.1.1 Empfänger unbekannt"},
		{"French Latin-1", []byte("550 Adresse \xe9lectronique inconnue, r\xe9essayez \xe0 la fa\xe7on"), "550 Adresse électronique inconnue, réessayez à la façon"},
		{"Windows-1252 quotes and euro", []byte("550 \x93quota\x94 \x80 exceeded"), "550 \u201cquota\u201d € exceeded"},
		{"valid UTF-8 kept", []byte("550 Empfänger unbekannt 受信者"), "550 Empfänger unbekannt 受信者"},
		{"multi-line reply on one line", []byte("550-5.1.1 first\r\n550 5.1.1 second\n"), "550-5.1.1 first 550 5.1.1 second"},
		{"NUL and ESC dropped", []byte("550 bad\x00 \x1b[31mred\x1b[0m"), "550 bad [31mred[0m"},
		{"DEL and C1 dropped", []byte("550 a\x7fb \x81c"), "550 ab c"},
		{"truncated UTF-8 sequence", []byte("550 Empf\xc3"), "550 EmpfÃ"},
		{"lone continuation bytes", []byte("550 \x80\x80 x"), "550 €€ x"},
		{"tabs and spaces collapse", []byte("\t 550   a \t b  "), "550 a b"},
		{"bidi controls dropped", []byte("550 \u202edereviled\u202c \u2066x\u2069"), "550 dereviled x"},
		{"empty", nil, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := ReadableText(tc.in)
			if got != tc.want {
				t.Errorf("ReadableText(%q) = %q, want %q", tc.in, got, tc.want)
			}
			checkReadable(t, got)
		})
	}
}

// checkReadable: valid UTF-8, one line, no control characters.
func checkReadable(t *testing.T, s string) {
	t.Helper()
	if !utf8.ValidString(s) {
		t.Errorf("%q is not valid UTF-8", s)
	}
	for _, r := range s {
		if unicode.IsControl(r) {
			t.Errorf("%q holds control character %U", s, r)
		}
	}
}

// FuzzReadableText: whatever bytes arrive, the text is valid UTF-8 on one
// line, and valid UTF-8 input keeps all its printable characters.
func FuzzReadableText(f *testing.F) {
	f.Add([]byte("451 4.7.1 Bitte sp\xe4ter"))
	f.Add([]byte("\x1b$B%F%9%H\x1b(B"))
	f.Fuzz(func(t *testing.T, b []byte) {
		got := ReadableText(b)
		checkReadable(t, got)
		if utf8.Valid(b) {
			want := strings.Join(strings.Fields(strings.Map(func(r rune) rune {
				if unicode.IsControl(r) && !unicode.IsSpace(r) || r == '\uFEFF' {
					return -1
				}
				return r
			}, string(b))), " ")
			if got != want {
				t.Errorf("valid UTF-8 %q: got %q, want %q", b, got, want)
			}
		}
	})
}

func TestTruncateNeverSplitsARune(t *testing.T) {
	s := strings.Repeat("ä", 10) // 2 bytes each
	for n := 0; n <= len(s); n++ {
		got := Truncate(s, n)
		if !utf8.ValidString(got) {
			t.Errorf("Truncate(%q, %d) = %q: invalid UTF-8", s, n, got)
		}
		if n < len(s) && len(strings.TrimSuffix(got, "...")) > n {
			t.Errorf("Truncate(%q, %d) = %q: longer than %d", s, n, got, n)
		}
	}
	if got := Truncate("日本語", 4); got != "日..." {
		t.Errorf("Truncate(日本語, 4) = %q", got)
	}
}

// TestClassifyDecodesDeclaredCharsets: notices and bounces in declared
// charsets (Shift_JIS, ISO-2022-JP, ISO-8859-1 and RFC 2047 words) give
// readable reasons in UTF-8; undeclared 8-bit text reads as Windows-1252.
func TestClassifyDecodesDeclaredCharsets(t *testing.T) {
	tok := evidenceTokens["dsnlatindiagnost"]
	jp := "宛先のメーリングリストは存在しません"
	sjis := []byte("\x88\xb6\x90\xe6\x82\xcc\x83\x81\x81\x5b\x83\x8a\x83\x93\x83\x4f\x83\x8a\x83\x58\x83\x67\x82\xcd\x91\xb6\x8d\xdd\x82\xb5\x82\xdc\x82\xb9\x82\xf1")
	iso2022 := []byte("\x1b$B08@h$N%a!<%j%s%0%j%9%H$OB8:_$7$^$;$s\x1b(B")
	for _, tc := range []struct {
		name  string
		ctype string
		text  []byte
		want  string
	}{
		{"Shift_JIS", "text/plain; charset=Shift_JIS", sjis, "5.1.1 " + jp},
		{"ISO-2022-JP", "text/plain; charset=ISO-2022-JP", iso2022, "5.1.1 " + jp},
		{"ISO-8859-1", "text/plain; charset=iso-8859-1", []byte("Empf\xe4nger unbekannt"), "5.1.1 Empfänger unbekannt"},
		{"undeclared 8-bit", "text/plain", []byte("Empf\xe4nger unbekannt"), "5.1.1 Empfänger unbekannt"},
		{"us-ascii with 8-bit", "text/plain; charset=us-ascii", []byte("Empf\xe4nger unbekannt"), "5.1.1 Empfänger unbekannt"},
		{"utf-8 that is not", "text/plain; charset=utf-8", []byte("Empf\xe4nger unbekannt"), "5.1.1 Empfänger unbekannt"},
		{"unknown charset", "text/plain; charset=x-no-such", []byte("Empf\xe4nger\x00 unbekannt"), "5.1.1 Empfänger unbekannt"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var raw bytes.Buffer
			raw.WriteString("From: MAILER-DAEMON@mail.example.org\r\nSubject: =?ISO-2022-JP?B?GyRCJUYlOSVIGyhC?=\r\n" +
				"Content-Type: multipart/report; report-type=delivery-status; boundary=b\r\n\r\n" +
				"--b\r\nContent-Type: " + tc.ctype + "\r\n\r\n")
			raw.Write(tc.text)
			raw.WriteString("\r\n--b\r\nContent-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; x\r\n\r\n" +
				"Final-Recipient: rfc822; test@lists.example.org\r\nAction: failed\r\nStatus: 5.1.1\r\n\r\n" +
				"--b\r\nContent-Type: text/rfc822-headers\r\n\r\nMessage-ID: <" + tok + "@example.org>\r\n\r\n--b--\r\n")
			h, body := splitEvidenceFixture(t, raw.Bytes())
			ev := Classify(h, body)
			if ev.Kind != KindBounce || ev.Reason != tc.want || len(ev.Tokens) != 1 {
				t.Errorf("%+v, want a bounce naming its probe with reason %q", ev, tc.want)
			}
			checkReadable(t, ev.Reason)
			if got := decodedSubject(h); got != "テスト" {
				t.Errorf("ISO-2022-JP subject decoded to %q", got)
			}
		})
	}
}

// TestClassifyReasonIsOneReadableLine: whatever a server writes, reasons
// are one line of valid UTF-8 without control characters, and at most
// maxReasonLen bytes plus the ellipsis.
func TestClassifyReasonIsOneReadableLine(t *testing.T) {
	long := strings.Repeat("Empf\xe4nger ", 400)
	raw := "From: MAILER-DAEMON@mail.example.org\r\nSubject: failure notice\r\n\r\n" +
		"<test@lists.example.org>:\r\n550 5.1.1 \x1b[1m" + long + "\x00\r\n  continued\r\n\r\n"
	h, body := splitEvidenceFixture(t, []byte(raw))
	ev := Classify(h, body)
	if ev.Kind != KindBounce {
		t.Fatalf("%+v", ev)
	}
	checkReadable(t, ev.Reason)
	if !strings.HasPrefix(ev.Reason, "550 5.1.1 [1mEmpfänger Empfänger") || len(ev.Reason) > maxReasonLen+3 {
		t.Errorf("reason %q (%d bytes)", ev.Reason[:60], len(ev.Reason))
	}
	// 8-bit bytes in header fields (an undeclared Subject, a From).
	var hh mail.Header
	hh.Set("From", "MAILER-DAEMON@mail.example.org")
	hh.Set("Subject", "Unzustellbar: Empf\xe4nger\x07")
	ev = Classify(hh, []byte("no SMTP reply here\r\n"))
	if ev.Reason != "Unzustellbar: Empfänger" {
		t.Errorf("reason from an 8-bit subject: %q", ev.Reason)
	}
}
