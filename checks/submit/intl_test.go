package submit

import (
	"context"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/listprobe/listprobe/checks/compose"
	"github.com/listprobe/listprobe/checks/mailtls"
)

// utf8Backend is submitTestBackend that also records whether each MAIL
// asked for SMTPUTF8.
type utf8Backend struct {
	submitTestBackend
	mu   sync.Mutex
	utf8 []bool
}

func (be *utf8Backend) NewSession(c *smtp.Conn) (smtp.Session, error) {
	return &utf8Session{submitTestSession: submitTestSession{be: &be.submitTestBackend, conn: c}, be: be}, nil
}

type utf8Session struct {
	submitTestSession
	be *utf8Backend
}

func (s *utf8Session) Mail(from string, opts *smtp.MailOptions) error {
	s.be.mu.Lock()
	s.be.utf8 = append(s.be.utf8, opts != nil && opts.UTF8)
	s.be.mu.Unlock()
	return s.submitTestSession.Mail(from, opts)
}

// startUTF8Server runs go-smtp's server on loopback, offering SMTPUTF8 or
// not.
func startUTF8Server(t *testing.T, offer bool) (*utf8Backend, string) {
	t.Helper()
	be := &utf8Backend{}
	s := smtp.NewServer(be)
	s.Domain = "mx.example.org"
	s.EnableSMTPUTF8 = offer
	s.ReadTimeout, s.WriteTimeout = 10*time.Second, 10*time.Second
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go s.Serve(ln)
	t.Cleanup(func() { s.Close() })
	return be, ln.Addr().String()
}

func submitIntl(t *testing.T, addr, from, to string) (*Receipt, error) {
	t.Helper()
	msg, err := compose.Message(compose.Probe{From: from, List: to, Token: "lp1.test", Date: time.Now()}, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return Send(ctx, &Options{Address: addr, TLS: mailtls.None}, from, []string{to}, msg)
}

// With a server that offers SMTPUTF8, international addresses go as they
// are, and MAIL FROM says SMTPUTF8.
func TestSubmitUsesSMTPUTF8WhenOffered(t *testing.T) {
	for _, tc := range []struct{ from, to string }{
		{"mitglied@exämple.test", "liste@exämple.test"},
		{"jörg@example.org", "liste@lists.example.org"},
		{"member@example.org", "jörg-liste@exämple.test"},
	} {
		be, addr := startUTF8Server(t, true)
		if _, err := submitIntl(t, addr, tc.from, tc.to); err != nil {
			t.Fatalf("%s -> %s: %v", tc.from, tc.to, err)
		}
		_, got, _ := be.snapshot()
		if len(got) != 1 || got[0].from != tc.from || len(got[0].to) != 1 || got[0].to[0] != tc.to || !be.utf8[0] {
			t.Errorf("%s -> %s: server got %+v with SMTPUTF8 %v; want the addresses as they are, with SMTPUTF8", tc.from, tc.to, got, be.utf8)
		}
	}
}

// Without SMTPUTF8, an international domain goes in its ASCII (IDNA) form,
// in the envelope and in the From and To fields; a local part that is not
// ASCII cannot be sent at all: nothing is sent, and the error says why.
func TestSubmitWithoutSMTPUTF8(t *testing.T) {
	be, addr := startUTF8Server(t, false)
	if _, err := submitIntl(t, addr, "mitglied@exämple.test", "liste@exämple.test"); err != nil {
		t.Fatal(err)
	}
	_, got, _ := be.snapshot()
	if len(got) != 1 || got[0].from != "mitglied@xn--exmple-cua.test" || got[0].to[0] != "liste@xn--exmple-cua.test" || be.utf8[0] {
		t.Fatalf("server got %+v (SMTPUTF8 %v); want the domains in IDNA form, without SMTPUTF8", got, be.utf8)
	}
	data := string(got[0].data)
	if !strings.Contains(data, "From: mitglied@xn--exmple-cua.test\r\n") || !strings.Contains(data, "To: liste@xn--exmple-cua.test\r\n") {
		t.Errorf("the header is not in ASCII:\n%s", data)
	}
	for _, b := range got[0].data {
		if b >= 0x80 {
			t.Fatalf("the message has 8-bit bytes for a server without SMTPUTF8:\n%s", data)
		}
	}

	for _, tc := range []struct{ from, to, stage string }{
		{"member@example.org", "jörg@lists.example.org", StageRcpt},
		{"jörg@example.org", "liste@lists.example.org", StageMail},
	} {
		be, addr := startUTF8Server(t, false)
		_, err := submitIntl(t, addr, tc.from, tc.to)
		se := asSubmitError(t, err)
		if se.Stage != tc.stage || se.Permanent || !strings.Contains(se.Error(), "SMTPUTF8") || !strings.Contains(se.Error(), "jörg@") {
			t.Errorf("%s -> %s: %v (stage %s, permanent %v); want a %s error naming the address and SMTPUTF8", tc.from, tc.to, err, se.Stage, se.Permanent, tc.stage)
		}
		if mails, _, _ := be.snapshot(); mails != 0 {
			t.Errorf("%s -> %s: MAIL was sent", tc.from, tc.to)
		}
	}
}

// ASCII addresses never ask for SMTPUTF8, even where it is offered.
func TestSubmitASCIIAddressesWithoutSMTPUTF8(t *testing.T) {
	be, addr := startUTF8Server(t, true)
	if _, err := submitIntl(t, addr, "member@example.org", "list@lists.example.org"); err != nil {
		t.Fatal(err)
	}
	if be.utf8[0] {
		t.Error("SMTPUTF8 asked for ASCII addresses")
	}
}
