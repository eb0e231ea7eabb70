package hyperkitty

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
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
	u, err := EmailURL("https://lists.example.org/hyperkitty/", "users@lists.example.org", "<179562245584.16176.5829031157299924070@localhost>")
	if err != nil || u != "https://lists.example.org/hyperkitty/api/list/users@lists.example.org/email/T2QYJDIRMX4724AUFICTP6Y4YM4SAMNC/" {
		t.Errorf("HyperKittyEmailURL = %q, %v", u, err)
	}
	for _, bad := range []string{"", "ftp://x/", "lists.example.org/hyperkitty", "https:///x"} {
		if _, err := EmailURL(bad, "users@lists.example.org", "<a@b>"); err == nil {
			t.Errorf("EmailURL(%q) accepted", bad)
		}
	}
	for in, want := range map[string]string{
		"<https://lists.example.org/hyperkitty/list/users@lists.example.org/message/T2QYJDIRMX4724AUFICTP6Y4YM4SAMNC/>": "https://lists.example.org/hyperkitty/api/list/users@lists.example.org/email/T2QYJDIRMX4724AUFICTP6Y4YM4SAMNC/",
		"<http://127.0.0.1:8010/archives/list/l@x.test/message/ABC/>":                                                   "http://127.0.0.1:8010/archives/api/list/l@x.test/email/ABC/",
		"<https://lists.example.org/pipermail/users/2026-December/000001.html>":                                         "",
		"<mailto:x@example.org>": "",
		"garbage":                "",
	} {
		got, ok := URLFromArchivedAt(in)
		if got != want || ok != (want != "") {
			t.Errorf("URLFromArchivedAt(%q) = %q, %v; want %q", in, got, ok, want)
		}
	}
}

// A loopback HTTP server answers as HyperKitty's API does: the message's
// JSON (with its message_id_hash) when archived, 404 before.
func TestHas(t *testing.T) {
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
	u, err := EmailURL(srv.URL+"/hyperkitty/", "l@x.test", id)
	if err != nil {
		t.Fatal(err)
	}
	if ok, err := Has(ctx, srv.Client(), u, id); ok || err != nil {
		t.Errorf("before archiving: %v, %v", ok, err)
	}
	archived[MessageIDHash(id)] = true
	if ok, err := Has(ctx, srv.Client(), u, id); !ok || err != nil {
		t.Errorf("archived: %v, %v", ok, err)
	}
	// Another message's JSON under this URL is not this post.
	if ok, _ := Has(ctx, srv.Client(), u, "<other@example.test>"); ok {
		t.Error("a message with another hash counted as archived")
	}
	srv.Config.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { http.Error(w, "down", http.StatusBadGateway) })
	if _, err := Has(ctx, srv.Client(), u, id); err == nil || !strings.Contains(err.Error(), "502") {
		t.Errorf("a 502: err = %v", err)
	}
}
