package token

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func testSigner(t testing.TB, key string) *Signer {
	t.Helper()
	s, err := NewSigner([]byte(key))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestTokenRoundTrip(t *testing.T) {
	s := testSigner(t, "token-test-key-0123456789")
	sent := time.Date(2026, 11, 25, 16, 0, 0, 0, time.UTC)
	tok := s.NewToken("Users@Lists.Example.org", sent)
	enc := s.Encode(tok)
	if !strings.HasPrefix(enc, "lp1.") || strings.ContainsAny(enc, " @<>\"") {
		t.Fatalf("token %q is not a dot-atom starting lp1.", enc)
	}
	got, err := s.Verify(enc)
	if err != nil {
		t.Fatal(err)
	}
	if got.ID != tok.ID || got.List != "users@lists.example.org" || !got.SentAt.Equal(sent) {
		t.Errorf("Verify = %+v, want %+v", got, tok)
	}
	// Case-insensitive: some relays and notices change case.
	if _, err := s.Verify(strings.ToUpper(enc)); err != nil {
		t.Errorf("upper-cased token does not verify: %v", err)
	}
	first, second := s.NewToken("a@example.org", sent), s.NewToken("a@example.org", sent)
	if first.ID == second.ID {
		t.Error("two tokens share an id")
	}
}

func TestTokenForgery(t *testing.T) {
	s := testSigner(t, "token-test-key-0123456789")
	other := testSigner(t, "another-key-9876543210")
	tok := s.NewToken("users@lists.example.org", time.Unix(1764086400, 0))
	enc := s.Encode(tok)

	if _, err := other.Verify(enc); !errors.Is(err, ErrForged) {
		t.Errorf("token signed with another key: err = %v, want ErrForged", err)
	}
	// Changing the list, the time or the id keeps the format but breaks the MAC.
	forgedList := s.Encode(Token{ID: tok.ID, List: "other@lists.example.org", SentAt: tok.SentAt})
	parts := strings.Split(enc, ".")
	parts[3] = strings.Split(forgedList, ".")[3]
	if _, err := s.Verify(strings.Join(parts, ".")); !errors.Is(err, ErrForged) {
		t.Errorf("token with another list: err = %v, want ErrForged", err)
	}
	parts = strings.Split(enc, ".")
	parts[2] = "1764090000"
	if _, err := s.Verify(strings.Join(parts, ".")); !errors.Is(err, ErrForged) {
		t.Errorf("token with another time: err = %v, want ErrForged", err)
	}
	if _, err := s.Verify("lp1.not-a-token"); err == nil || errors.Is(err, ErrForged) {
		t.Errorf("garbage: err = %v, want a parse error", err)
	}
}

// A replayed token verifies (it is ours), but it names its own id and send
// time: it can only ever match the probe that made it, never a later one.
func TestTokenReplayKeepsIdentity(t *testing.T) {
	s := testSigner(t, "token-test-key-0123456789")
	old := s.NewToken("users@lists.example.org", time.Now().Add(-48*time.Hour))
	fresh := s.NewToken("users@lists.example.org", time.Now())
	got, err := s.Verify(s.Encode(old))
	if err != nil {
		t.Fatal(err)
	}
	if got.ID == fresh.ID || !got.SentAt.Equal(old.SentAt) {
		t.Errorf("replayed token %+v could be mistaken for %+v", got, fresh)
	}
}

func TestFindTokens(t *testing.T) {
	s := testSigner(t, "token-test-key-0123456789")
	a := s.Encode(s.NewToken("a@lists.example.org", time.Unix(1764086400, 0)))
	b := s.Encode(s.NewToken("b@lists.example.org", time.Unix(1764086400, 0)))
	text := "Subject: [A] listprobe delivery test " + a + "\r\nMessage-ID: <" + a + "@example.org>\r\n\r\n    " + strings.ToUpper(b) + "\r\n"
	got := Find(text)
	if len(got) != 2 || got[0] != a || got[1] != b {
		t.Errorf("Find = %q, want [%s %s]", got, a, b)
	}
	if got := Find("no token here, lp1.short.1.aa.bb"); len(got) != 0 {
		t.Errorf("Find found %q in text without a token", got)
	}
}

func TestNewSignerRejectsShortKey(t *testing.T) {
	if _, err := NewSigner([]byte("short\n")); err == nil {
		t.Error("NewSigner accepted a 5-byte key")
	}
}

func BenchmarkVerify(b *testing.B) {
	s := testSigner(b, "token-test-key-0123456789")
	enc := s.Encode(s.NewToken("users@lists.example.org", time.Now()))
	for b.Loop() {
		if _, err := s.Verify(enc); err != nil {
			b.Fatal(err)
		}
	}
}

// FuzzVerify: no text makes Verify panic, and only the real signature
// verifies.
func FuzzVerify(f *testing.F) {
	s := testSigner(f, "token-test-key-0123456789")
	f.Add(s.Encode(s.NewToken("users@lists.example.org", time.Unix(1764086400, 0))))
	f.Add("lp1.aaaaaaaaaaaaaaaa.1.aa.aaaaaaaaaaaaaaaaaaaaaaaa")
	f.Add("lp1.aaaaaaaaaaaaaaaa.99999999999999.zz.aaaaaaaaaaaaaaaaaaaaaaaa")
	f.Fuzz(func(t *testing.T, text string) {
		tok, err := s.Verify(text)
		if err == nil && s.Encode(tok) != strings.ToLower(strings.TrimSpace(text)) {
			t.Errorf("%q verified as %+v, which encodes differently", text, tok)
		}
		Find(text)
	})
}
