package imapwatch

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/listprobe/listprobe/checks/mailtls"
	"github.com/listprobe/listprobe/internal/testbed"
)

// The real Dovecot: the reader's INBOX holds a message the test sends it,
// and not one it never got; a wrong password is an error naming the login.
func TestArchiveFolderHasOnTheTestbed(t *testing.T) {
	e := testbed.Load(t)
	id := fmt.Sprintf("<archive-folder-%d@example.test>", time.Now().UnixNano())
	msg := fmt.Sprintf("From: %s\r\nTo: %s\r\nSubject: archive folder test\r\nMessage-ID: %s\r\nDate: %s\r\n\r\nx\r\n",
		e.Get(t, "MEMBER"), e.Get(t, "READER"), id, time.Now().Format(time.RFC1123Z))
	e.Submit(t, "MEMBER", e.Get(t, "READER"), []byte(msg))
	opts := Options{Address: e.Get(t, "IMAP"), TLS: mailtls.StartTLS, TLSConfig: e.TLSConfig(t),
		Username: e.Get(t, "READER"), Password: e.Secret(t, "READER_PASSWORD_FILE")}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	deadline := time.Now().Add(30 * time.Second)
	for {
		ok, err := ArchiveFolderHas(ctx, opts, id)
		if err != nil {
			t.Fatal(err)
		}
		if ok {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the message never showed in the reader's INBOX")
		}
		time.Sleep(200 * time.Millisecond)
	}
	if ok, err := ArchiveFolderHas(ctx, opts, "<never-sent-"+id[1:]); ok || err != nil {
		t.Errorf("a message never sent: %v, %v", ok, err)
	}
	opts.Password = "wrong"
	if _, err := ArchiveFolderHas(ctx, opts, id); err == nil || !strings.Contains(err.Error(), "login as") {
		t.Errorf("wrong password: err = %v", err)
	}
}
