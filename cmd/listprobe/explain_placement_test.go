package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/listprobe/listprobe/internal/dnstest"
)

// explain says where a saved copy was when its path says so (a Junk or
// Spam folder: serve would make the probe junk, never delivered) and the
// spam filter's verdict from its header, cleaned of control characters.
func TestExplainShowsPlacementAndFilterVerdict(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "key"), []byte("listprobe-evidence-fixture-key-1"), 0o600)
	t.Setenv("LISTPROBE_EXPLAIN_TEST_PW", "unused")
	cfg := filepath.Join(dir, "listprobe.yml")
	os.WriteFile(cfg, []byte(`global: { signing_key_file: key, dns: { server: "`+dnstest.Start(t).Addr+`" } }
accounts:
  member: { address: probe@example.org, smtp: { address: "127.0.0.1:1", tls: none }, imap: { address: "127.0.0.1:1", tls: none, username: member, password_env: LISTPROBE_EXPLAIN_TEST_PW } }
lists:
  - { address: test@lists.example.org, poster: member, reader: member }
`), 0o600)
	raw, err := os.ReadFile("../../checks/testdata/evidence/probe_copy-mailman3-list-copy.eml")
	if err != nil {
		t.Fatal(err)
	}
	filtered := append([]byte("X-Spam-Flag: YES\r\nX-Spam-Status: Yes, score=7.1\x1b[31m required=5.0\r\n"), raw...)
	junk := filepath.Join(dir, "Maildir", ".Junk", "cur", "1.eml")
	inbox := filepath.Join(dir, "Maildir", "cur", "2.eml")
	for _, f := range []string{junk, inbox} {
		os.MkdirAll(filepath.Dir(f), 0o700)
		os.WriteFile(f, filtered, 0o600)
	}
	code, out, errOut := runCmd(t, "explain", "--output=json", "--config.file="+cfg, junk, inbox)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	var doc struct{ Messages []explained }
	if err := json.Unmarshal([]byte(out), &doc); err != nil || len(doc.Messages) != 2 {
		t.Fatalf("%v: %s", err, out)
	}
	j, i := doc.Messages[0], doc.Messages[1]
	if j.Placement != "junk" || !strings.Contains(j.Reason, "in the Junk folder") || j.Kind != "probe_copy" {
		t.Errorf("the copy in .Junk: placement %q, reason %q", j.Placement, j.Reason)
	}
	if i.Placement != "" {
		t.Errorf("the copy in INBOX: placement %q, want none said", i.Placement)
	}
	for _, m := range doc.Messages {
		if m.FilterVerdict != "X-Spam-Status: Yes, score=7.1[31m required=5.0; X-Spam-Flag: YES" {
			t.Errorf("%s: filter verdict %q", m.File, m.FilterVerdict)
		}
	}
	_, text, _ := runCmd(t, "explain", "--config.file="+cfg, junk)
	if !strings.Contains(text, ` placement=junk filter="X-Spam-Status: Yes, score=7.1[31m required=5.0; X-Spam-Flag: YES"`) || bytes.ContainsRune([]byte(text), 0x1b) {
		t.Errorf("text output:\n%q", text)
	}
}
