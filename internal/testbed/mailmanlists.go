package testbed

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"testing"
	"time"

	"github.com/listprobe/listprobe/checks/mailmanrest"
)

// MailmanClient returns listprobe's own (read-only) REST client for the
// testbed's Mailman.
func (e Env) MailmanClient(t testing.TB) *mailmanrest.Client {
	t.Helper()
	return mailmanrest.New(mailmanrest.Options{URL: e.Get(t, "MAILMAN_URL"), Username: e.Get(t, "MAILMAN_USER"), Password: e.Secret(t, "MAILMAN_PASSWORD_FILE")})
}

// NewMailmanList creates a Mailman list of the test's own on the testbed's
// list domain, with the member and the reader subscribed and the moderator
// as owner, and retires it when the test ends. The list sends no welcome,
// goodbye or moderator notices unless a test asks for them.
func (e Env) NewMailmanList(t testing.TB) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	c := e.MailmanAdmin(t)
	var rnd [4]byte
	if _, err := rand.Read(rnd[:]); err != nil {
		t.Fatal(err)
	}
	list := "checks-" + hex.EncodeToString(rnd[:]) + "@" + e.Get(t, "LIST_DOMAIN")
	if err := c.CreateList(ctx, list); err != nil {
		t.Fatalf("creating test list: %v", err)
	}
	t.Cleanup(func() { c.RetireList(list) })
	// Moderator notices go to the list's own -owner address, and one still
	// queued in Mailman when the list is deleted makes its runner log an
	// exception.
	if err := c.SetListConfig(ctx, list, map[string]any{
		"send_welcome_message":  false,
		"send_goodbye_message":  false,
		"admin_notify_mchanges": false,
		"admin_immed_notify":    false,
	}); err != nil {
		t.Fatal(err)
	}
	for _, s := range []struct{ who, role string }{
		{e.Get(t, "MEMBER"), "member"},
		{e.Get(t, "READER"), "member"},
		{e.Get(t, "MODERATOR"), "owner"},
	} {
		if err := c.Subscribe(ctx, list, s.who, s.role); err != nil {
			t.Fatalf("subscribing %s as %s: %v", s.who, s.role, err)
		}
	}
	return list
}

// SetMailmanListConfig changes list settings and puts the old values back
// when the test ends.
func (e Env) SetMailmanListConfig(t testing.TB, list string, settings map[string]any) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	c := e.MailmanAdmin(t)
	old, err := c.ListConfig(ctx, list)
	if err != nil {
		t.Fatal(err)
	}
	restore := map[string]any{}
	for k := range settings {
		v, ok := old[k]
		if !ok {
			t.Fatalf("list config has no %q", k)
		}
		restore[k] = v
	}
	t.Cleanup(func() {
		err := c.SetListConfig(context.Background(), list, restore)
		if err != nil && !mailmanrest.IsNotFound(err) {
			t.Errorf("restoring %s settings: %v", list, err)
		}
	})
	if err := c.SetListConfig(ctx, list, settings); err != nil {
		t.Fatal(err)
	}
}

// WaitHeld waits up to 30 seconds until the post messageID is held on list
// and returns it as c reads it.
func WaitHeld(t testing.TB, c *mailmanrest.Client, list, messageID string) mailmanrest.HeldMessage {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	deadline := time.Now().Add(30 * time.Second)
	for {
		held, err := c.Held(ctx, list)
		if err != nil {
			t.Fatal(err)
		}
		for _, h := range held {
			if h.MessageID == messageID {
				return h
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s not held on %s after 30s; held: %+v", messageID, list, held)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
