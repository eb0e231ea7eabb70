package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// explainConfig writes a minimal config whose signing key is key.
func explainConfig(t *testing.T, key string) string {
	t.Helper()
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "key"), []byte(key), 0o600)
	t.Setenv("LISTPROBE_EXPLAIN_TEST_PW", "unused")
	cfg := `global: { signing_key_file: key }
accounts:
  member: { address: member@example.org, smtp: { address: "127.0.0.1:1", tls: none }, imap: { address: "127.0.0.1:1", tls: none, username: member, password_env: LISTPROBE_EXPLAIN_TEST_PW } }
lists:
  - { address: users@lists.example.org, poster: member, reader: member }
`
	file := filepath.Join(dir, "listprobe.yml")
	os.WriteFile(file, []byte(cfg), 0o600)
	return file
}

// explain recognises every saved message of checks' evidence fixtures, real
// captures from Mailman 3 and Postfix included, and verifies their tokens
// with the key they were signed with.
func TestExplainEvidenceFixtures(t *testing.T) {
	files, err := filepath.Glob("../../checks/testdata/evidence/*.eml")
	if err != nil || len(files) < 20 {
		t.Fatalf("fixtures: %d, %v", len(files), err)
	}
	keys := map[bool]string{
		false: "listprobe-evidence-fixture-key-1",       // generated fixtures
		true:  "listprobe-evidence-test-key-0123456789", // real captures
	}
	for real, key := range keys {
		var batch []string
		for _, f := range files {
			if strings.Contains(f, "-real-") == real {
				batch = append(batch, f)
			}
		}
		code, out, errOut := runCmd(t, append([]string{"explain", "--output=json", "--config.file=" + explainConfig(t, key)}, batch...)...)
		if code != 0 {
			t.Fatalf("exit %d: %s", code, errOut)
		}
		var doc struct{ Messages []explained }
		if err := json.Unmarshal([]byte(out), &doc); err != nil || len(doc.Messages) != len(batch) {
			t.Fatalf("%v: %s", err, out)
		}
		for _, m := range doc.Messages {
			name := filepath.Base(m.File)
			wantKind, _, _ := strings.Cut(name, "-")
			if m.Kind != wantKind {
				t.Errorf("%s: kind %s", name, m.Kind)
			}
			wantSig := "valid"
			switch {
			case strings.Contains(name, "forged"):
				wantSig = "invalid"
			case m.ProbeID == "":
				wantSig = "absent"
			}
			if m.Signature != wantSig {
				t.Errorf("%s: signature %s, want %s", name, m.Signature, wantSig)
			}
			if m.Kind != "unrelated" && m.Kind != "notice_limit" && m.Kind != "probe_copy" && m.Reason == "" {
				t.Errorf("%s: no reason", name)
			}
		}
	}
}
