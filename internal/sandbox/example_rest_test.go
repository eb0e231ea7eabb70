package sandbox_test

import (
	"context"
	"fmt"
	"log"
	"strings"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"

	"github.com/listprobe/listprobe/checks/mailmanrest"
	"github.com/listprobe/listprobe/internal/sandbox"
	"github.com/listprobe/listprobe/internal/testbed"
)

// The incident listprobe exists for, through the world's Mailman REST API:
// someone sets the healthy list's default_member_action to hold, and the
// next member post lands in the held queue that listprobe's Mailman client
// reads.
func ExampleWorld_Held() {
	w, err := sandbox.Start(sandbox.DemoOptions())
	if err != nil {
		log.Fatal(err)
	}
	defer w.Close()
	ctx := context.Background()
	mm := mailmanrest.New(mailmanrest.Options{URL: w.MailmanURL, Username: w.MailmanUsername, Password: w.MailmanPassword})
	admin := &testbed.MailmanAdmin{URL: w.MailmanURL, Username: w.MailmanUsername, Password: w.MailmanPassword}

	if err := admin.SetListConfig(ctx, sandbox.DemoHealthy, map[string]any{"default_member_action": "hold"}); err != nil {
		log.Fatal(err)
	}
	fmt.Println("policy:", w.Policy(sandbox.DemoHealthy))

	post := strings.ReplaceAll(`From: member@example.org
To: healthy@lists.example.org
Subject: hello
Message-ID: <hello@example.org>

Hello, list.
`, "\n", "\r\n")
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

	var held []mailmanrest.HeldMessage
	for deadline := time.Now().Add(30 * time.Second); len(held) == 0 && time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if held, err = mm.Held(ctx, sandbox.DemoHealthy); err != nil {
			log.Fatal(err)
		}
	}
	fmt.Println("held:", held[0].MessageID, held[0].Reason)
	fmt.Println("World.Held agrees:", w.Held(sandbox.DemoHealthy)[0].RequestID == held[0].RequestID)
	// Output:
	// policy: hold
	// held: <hello@example.org> The message comes from a moderated member
	// World.Held agrees: true
}
