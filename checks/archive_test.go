package checks

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/listprobe/listprobe/internal/testbed"
)

// Message-ID-Hash values Mailman 3.3.8 wrote into the testbed's real copies
// (checks/testdata/evidence/*-mailman3-real-*.eml).
func TestMessageIDHashIsMailmans(t *testing.T) {
	for id, want := range map[string]string{
		"<179562245584.16176.5829031157299924070@localhost>": "T2QYJDIRMX4724AUFICTP6Y4YM4SAMNC",
		"179562245520.16176.3550791041979697819@localhost":   "UKTX5IO7RDZD3ZHTQE4DQAIGWTRQYSRL",
		"<lp1.f3e4b7ulnyvjlidh.1796174127.mnugky3lomwtozbwmnsdemtdibwgs43uomxgk6dbnvygyzjoorsxg5a.emyqt2qu25wclvefcqyjuqbh@example.test>": "SZ5ZUTK3LPRLQJIHI62RPLPUZBQI3YYT",
	} {
		if got := MessageIDHash(id); got != want {
			t.Errorf("MessageIDHash(%s) = %s, Mailman says %s", id, got, want)
		}
	}
}

func TestHyperKittyURLs(t *testing.T) {
	u, err := HyperKittyEmailURL("https://lists.example.org/hyperkitty/", "users@lists.example.org", "<179562245584.16176.5829031157299924070@localhost>")
	if err != nil || u != "https://lists.example.org/hyperkitty/api/list/users@lists.example.org/email/T2QYJDIRMX4724AUFICTP6Y4YM4SAMNC/" {
		t.Errorf("HyperKittyEmailURL = %q, %v", u, err)
	}
	for _, bad := range []string{"", "ftp://x/", "lists.example.org/hyperkitty", "https:///x"} {
		if _, err := HyperKittyEmailURL(bad, "users@lists.example.org", "<a@b>"); err == nil {
			t.Errorf("HyperKittyEmailURL(%q) accepted", bad)
		}
	}
	for in, want := range map[string]string{
		"<https://lists.example.org/hyperkitty/list/users@lists.example.org/message/T2QYJDIRMX4724AUFICTP6Y4YM4SAMNC/>": "https://lists.example.org/hyperkitty/api/list/users@lists.example.org/email/T2QYJDIRMX4724AUFICTP6Y4YM4SAMNC/",
		"<http://127.0.0.1:8010/archives/list/l@x.test/message/ABC/>":                                                   "http://127.0.0.1:8010/archives/api/list/l@x.test/email/ABC/",
		"<https://lists.example.org/pipermail/users/2026-December/000001.html>":                                         "",
		"<mailto:x@example.org>": "",
		"garbage":                "",
	} {
		got, ok := HyperKittyURLFromArchivedAt(in)
		if got != want || ok != (want != "") {
			t.Errorf("HyperKittyURLFromArchivedAt(%q) = %q, %v; want %q", in, got, ok, want)
		}
	}
}

// A loopback HTTP server answers as HyperKitty's API does: the message's
// JSON (with its message_id_hash) when archived, 404 before.
func TestHyperKittyHas(t *testing.T) {
	archived := map[string]bool{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		parts := strings.Split(strings.Trim(r.URL.Path, "/"), "/")
		if len(parts) != 6 || parts[1] != "api" || parts[4] != "email" || !archived[parts[5]] {
			http.Error(w, `{"detail":"Not found."}`, http.StatusNotFound)
			return
		}
		fmt.Fprintf(w, `{"url":"x","mailinglist":"y","message_id":"m","message_id_hash":%q,"subject":"s"}`, parts[5])
	}))
	defer srv.Close()
	ctx := context.Background()
	id := "<lp1.abc@example.test>"
	u, err := HyperKittyEmailURL(srv.URL+"/hyperkitty/", "l@x.test", id)
	if err != nil {
		t.Fatal(err)
	}
	if ok, err := HyperKittyHas(ctx, srv.Client(), u, id); ok || err != nil {
		t.Errorf("before archiving: %v, %v", ok, err)
	}
	archived[MessageIDHash(id)] = true
	if ok, err := HyperKittyHas(ctx, srv.Client(), u, id); !ok || err != nil {
		t.Errorf("archived: %v, %v", ok, err)
	}
	// Another message's JSON under this URL is not this post.
	if ok, _ := HyperKittyHas(ctx, srv.Client(), u, "<other@example.test>"); ok {
		t.Error("a message with another hash counted as archived")
	}
	srv.Config.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { http.Error(w, "down", http.StatusBadGateway) })
	if _, err := HyperKittyHas(ctx, srv.Client(), u, id); err == nil || !strings.Contains(err.Error(), "502") {
		t.Errorf("a 502: err = %v", err)
	}
}

// The real Dovecot: the reader's INBOX holds a message the test sends it,
// and not one it never got.
func TestArchiveFolderHasOnTheTestbed(t *testing.T) {
	env := testbed.Load(t)
	e := testbed.Env(env)
	id := fmt.Sprintf("<archive-folder-%d@example.test>", time.Now().UnixNano())
	msg := fmt.Sprintf("From: %s\r\nTo: %s\r\nSubject: archive folder test\r\nMessage-ID: %s\r\nDate: %s\r\n\r\nx\r\n",
		env["LISTPROBE_TESTBED_MEMBER"], env["LISTPROBE_TESTBED_READER"], id, time.Now().Format(time.RFC1123Z))
	sendToMailmanTestbed(t, env, "MEMBER", env["LISTPROBE_TESTBED_READER"], []byte(msg))
	opts := MailboxOptions{Address: env["LISTPROBE_TESTBED_IMAP"], TLS: TLSStartTLS, TLSConfig: e.TLSConfig(t),
		Username: env["LISTPROBE_TESTBED_READER"], Password: e.Secret(t, "LISTPROBE_TESTBED_READER_PASSWORD_FILE")}
	ctx := mailmanTestContext(t)
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
