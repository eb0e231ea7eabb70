package sandbox_test

import (
	"bytes"
	"fmt"
	"log"
	"net/mail"
	"strings"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"

	"github.com/listprobe/listprobe/internal/sandbox"
)

// A member posts to the demo world's healthy list; the subscriber's INBOX
// then holds Mailman 3's copy.
func ExampleStart() {
	w, err := sandbox.Start(sandbox.DemoOptions())
	if err != nil {
		log.Fatal(err)
	}
	defer w.Close()

	post := strings.ReplaceAll(`From: member@example.org
To: healthy@lists.example.org
Subject: hello
Message-ID: <hello@example.org>

Hello, list.
`, "\n", "\r\n")
	// Plain SMTP on loopback: go-smtp's SendMail helper insists on
	// STARTTLS, so the client is driven step by step.
	c, err := smtp.Dial(w.SMTPAddr)
	if err != nil {
		log.Fatal(err)
	}
	if err := c.Auth(sasl.NewPlainClient("", sandbox.DemoMember, sandbox.DemoMemberPassword)); err != nil {
		log.Fatal(err)
	}
	if err := c.SendMail(sandbox.DemoMember, []string{sandbox.DemoHealthy}, strings.NewReader(post)); err != nil {
		log.Fatal(err)
	}
	c.Quit()

	var msgs []sandbox.StoredMessage
	for deadline := time.Now().Add(30 * time.Second); len(msgs) == 0 && time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if msgs, err = w.Messages(sandbox.DemoReader); err != nil {
			log.Fatal(err)
		}
	}
	m, err := mail.ReadMessage(bytes.NewReader(msgs[0].Raw))
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(m.Header.Get("Subject"))
	fmt.Println(m.Header.Get("List-Id"))
	fmt.Println(m.Header.Get("Message-ID"))
	// Output:
	// [Healthy] hello
	// <healthy.lists.example.org>
	// <hello@example.org>
}
