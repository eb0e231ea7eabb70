package imapwatch_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log"
	"net"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapserver"
	"github.com/emersion/go-imap/v2/imapserver/imapmemserver"

	"github.com/listprobe/listprobe/checks/imapwatch"
	"github.com/listprobe/listprobe/checks/mailtls"
)

// A Mailbox watches one account's INBOX; every subscriber gets each new
// message's watched header fields. Here the IMAP server is an in-memory one
// on loopback, and a message is delivered to it once the session is up.
func ExampleMailbox() {
	user := imapmemserver.NewUser("reader@example.org", "secret")
	user.Create("INBOX", nil)
	mem := imapmemserver.New()
	mem.AddUser(user)
	srv := imapserver.New(&imapserver.Options{
		NewSession: func(*imapserver.Conn) (imapserver.Session, *imapserver.GreetingData, error) {
			return mem.NewSession(), nil, nil
		},
		Caps:         imap.CapSet{imap.CapIMAP4rev1: {}, imap.CapUIDPlus: {}},
		InsecureAuth: true,
		Logger:       log.New(io.Discard, "", 0),
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		log.Fatal(err)
	}
	go srv.Serve(ln)
	defer srv.Close()

	up := make(chan bool, 10)
	m := imapwatch.New(imapwatch.Options{
		HeaderFields: []string{"From", "Subject", "Message-ID"},
		Address:      ln.Addr().String(),
		TLS:          mailtls.None, // loopback only: use mailtls.Implicit or mailtls.StartTLS elsewhere
		Username:     "reader@example.org",
		Password:     "secret",
		OnState:      func(isUp bool, err error) { up <- isUp },
		// imapmemserver can miss a message that arrives just before an
		// IDLE starts (real servers do not): renewing IDLE often bounds
		// the delay.
		IdleRefresh: time.Second,
	})
	msgs, unsubscribe := m.Subscribe()
	defer unsubscribe()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- m.Run(ctx) }()
	for !<-up {
	}

	// A probe was just accepted by the list server: its copy is due, so
	// the session asks the server itself rather than wait for IDLE.
	expected := m.Expect(time.Now().Add(time.Minute))
	raw := "From: list@lists.example.org\r\nSubject: hello\r\n\r\nhi\r\n"
	user.Append("INBOX", bytes.NewReader([]byte(raw)), &imap.AppendOptions{})
	msg := <-msgs
	expected()
	fmt.Println("new message:", msg.Header.Get("Subject"), "from", msg.Header.Get("From"))

	// Once the caller has verified that the message is its own probe:
	if err := m.Delete(ctx, msg.UIDValidity, msg.UID); err != nil {
		log.Fatal(err)
	}
	cancel()
	fmt.Println(<-done)
	// Output:
	// new message: hello from list@lists.example.org
	// context canceled
}
