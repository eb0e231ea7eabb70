package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/listprobe/listprobe/internal/dnstest"
)

// explainConfig writes a minimal config whose signing key is key. Its DNS
// is a test server that knows no names, so that explain's authentication
// checks never ask the machine's resolver.
func explainConfig(t *testing.T, key string) string {
	t.Helper()
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "key"), []byte(key), 0o600)
	t.Setenv("LISTPROBE_EXPLAIN_TEST_PW", "unused")
	cfg := `global: { signing_key_file: key, dns: { server: "` + dnstest.Start(t).Addr + `" } }
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
			if isRealCapture(filepath.Base(f)) == real {
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
			wantKind, rest, _ := strings.Cut(name, "-")
			if wantKind == "sympa" || wantKind == "mlmmj" {
				// The testbed's captures name the manager first.
				wantKind, _, _ = strings.Cut(rest, "-")
				wantKind = strings.Replace(wantKind, "moderator_request", "moderator_notice", 1)
				if m.Kind != "probe_copy" && m.Manager != strings.SplitN(name, "-", 2)[0] {
					t.Errorf("%s: manager %q", name, m.Manager)
				}
			}
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

// isRealCapture reports a fixture captured from the testbed's real
// servers (signed with the capture key): Mailman's "-real-" ones and every
// Sympa and mlmmj one.
func isRealCapture(name string) bool {
	return strings.Contains(name, "-real-") || strings.HasPrefix(name, "sympa-") || strings.HasPrefix(name, "mlmmj-")
}

// explain names Sympa and mlmmj as the writers of their notices, with the
// server's sentence; Sympa's notice to the poster names no probe and says
// it is matched by time.
func TestExplainSympaAndMlmmj(t *testing.T) {
	dir := "../../checks/testdata/evidence/"
	code, out, errOut := runCmd(t, "explain", dir+"sympa-hold_notice-editorkey-fr.eml", dir+"mlmmj-rejection-tocc.eml")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	for _, want := range []string{
		`sympa-hold_notice-editorkey-fr.eml: hold_notice (sympa) list=t-9d6dcdda@sympa.example.test probe=none(matched-by-time) signature=absent reason="Votre message pour la liste t-9d6dcdda a été transmis au(x) modérateur(s)"`,
		`mlmmj-rejection-tocc.eml: rejection (mlmmj) list=t-dd3451ed@mlmmj.example.test probe=`,
		`reason="The message from <member@example.test> was unable to be delivered to the list because the list address was not found in either the To: or CC: header."`,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("explain output lacks %s\n%s", want, out)
		}
	}
	_, out, _ = runCmd(t, "explain", "--output=json", dir+"sympa-hold_notice-editorkey-en.eml")
	var doc struct{ Messages []explained }
	if err := json.Unmarshal([]byte(out), &doc); err != nil || len(doc.Messages) != 1 {
		t.Fatalf("%v: %s", err, out)
	}
	if m := doc.Messages[0]; m.Manager != "sympa" || !m.ByTime || m.ProbeID != "" || m.Kind != "hold_notice" {
		t.Errorf("%+v, want Sympa's hold notice matched by time", m)
	}
}

// withStdin runs f with os.Stdin reading data.
func withStdin(t *testing.T, data []byte, f func()) {
	t.Helper()
	file := filepath.Join(t.TempDir(), "stdin")
	if err := os.WriteFile(file, data, 0o600); err != nil {
		t.Fatal(err)
	}
	in, err := os.Open(file)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	saved := os.Stdin
	os.Stdin = in
	defer func() { os.Stdin = saved }()
	f()
}

// "-" reads the message from standard input.
func TestExplainStandardInput(t *testing.T) {
	raw, err := os.ReadFile("../../checks/testdata/evidence/hold_notice-mailman3-moderated-member.eml")
	if err != nil {
		t.Fatal(err)
	}
	withStdin(t, raw, func() {
		code, out, errOut := runCmd(t, "explain", "--output=json", "--config.file="+explainConfig(t, "listprobe-evidence-fixture-key-1"), "-")
		if code != 0 {
			t.Fatalf("exit %d: %s", code, errOut)
		}
		var doc struct{ Messages []explained }
		if err := json.Unmarshal([]byte(out), &doc); err != nil || len(doc.Messages) != 1 {
			t.Fatalf("%v: %s", err, out)
		}
		m := doc.Messages[0]
		if m.File != "-" || m.Kind != "hold_notice" || m.Signature != "valid" || m.ProbeID != "holdmm3moderated" {
			t.Errorf("%+v", m)
		}
	})
}

// Input that is no mail message (an image, a program, random bytes, an
// empty file, plain prose) is refused with exit 2, naming the file and
// saying why, without echoing its bytes; the other files are still
// explained.
func TestExplainNotAMailMessage(t *testing.T) {
	png := append([]byte("\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x01\x00"), bytes.Repeat([]byte{0xde, 0xad, 0x1b, 0x07}, 64)...)
	elf := append([]byte("\x7fELF\x02\x01\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x02\x00>\x00"), bytes.Repeat([]byte{0x1b, 0x5b, 0x32, 0x4a}, 64)...)
	for name, data := range map[string][]byte{
		"image.png":  png,
		"a.out":      elf,
		"random.bin": bytes.Repeat([]byte{0x00, 0x9b, 0x1b, 0xff, 0x07}, 100),
		"empty.eml":  nil,
		"notes.txt":  []byte("Dear diary,\n\ntoday nothing happened.\n"),
		"config.yml": []byte("global:\n  schedule: x\nlists: []\n"),
		"gzip.gz":    append([]byte("\x1f\x8b\x08\x00"), bytes.Repeat([]byte{0x03, 0x00, 0x1b}, 50)...),
	} {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			bad := filepath.Join(dir, name)
			os.WriteFile(bad, data, 0o600)
			good := "../../checks/testdata/evidence/unrelated-mailman3-welcome.eml"
			code, out, errOut := runCmd(t, "explain", bad, good)
			if code != 2 {
				t.Errorf("exit %d, want 2", code)
			}
			if !strings.Contains(errOut, bad+": not a mail message") {
				t.Errorf("stderr %q does not say %s is not a mail message", errOut, bad)
			}
			for _, s := range []string{errOut, out} {
				if !utf8.ValidString(s) || strings.ContainsAny(s, "\x00\x1b\x07\x7f\x89") || strings.Contains(s, "IHDR") {
					t.Errorf("output echoes the input's bytes: %q", s)
				}
			}
			if !strings.Contains(out, "unrelated-mailman3-welcome.eml: unrelated") {
				t.Errorf("the good file was not explained: %q", out)
			}
		})
	}
	withStdin(t, png, func() {
		code, _, errOut := runCmd(t, "explain", "-")
		if code != 2 || !strings.Contains(errOut, "standard input: not a mail message") || strings.Contains(errOut, "IHDR") {
			t.Errorf("PNG on stdin: exit %d, %q", code, errOut)
		}
	})
}

// Without --config.file the signature is unchecked, and explain says how
// to check it.
func TestExplainUncheckedSignatureHint(t *testing.T) {
	code, out, errOut := runCmd(t, "explain", "../../checks/testdata/evidence/probe_copy-mailman3-wrap-message.eml")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	if !strings.Contains(out, "signature=unchecked") || !strings.Contains(out, "copy=wrapped") {
		t.Errorf("stdout %q", out)
	}
	if !strings.Contains(errOut, "--config.file") {
		t.Errorf("no hint that --config.file checks signatures: %q", errOut)
	}
	// With the configuration there is nothing to hint.
	code, _, errOut = runCmd(t, "explain", "--config.file="+explainConfig(t, "listprobe-evidence-fixture-key-1"), "../../checks/testdata/evidence/probe_copy-mailman3-wrap-message.eml")
	if code != 0 || strings.Contains(errOut, "--config.file") {
		t.Errorf("exit %d, stderr %q", code, errOut)
	}
}

// With the configuration, explain says whether listprobe would delete a
// message: the list's copy from the configured poster yes, the list's own
// notices only when authenticated, a forward or a digest naming the probe no, and a probe of a
// list that is not configured says nothing.
func TestExplainDeletable(t *testing.T) {
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
	ev := "../../checks/testdata/evidence/"
	want := map[string]*bool{}
	yes, no := true, false
	// The list's copy, passed on by someone else with its Message-ID kept
	// (a mail client's "redirect"): named, verified, not deletable.
	raw, err := os.ReadFile(ev + "probe_copy-mailman3-list-copy.eml")
	if err != nil {
		t.Fatal(err)
	}
	redirected := filepath.Join(dir, "redirected.eml")
	os.WriteFile(redirected, bytes.Replace(raw, []byte("From: probe@example.org"), []byte("From: mallory@example.org"), 1), 0o600)
	want[redirected] = &no
	for name, d := range map[string]*bool{
		"probe_copy-mailman3-list-copy.eml":      &yes,
		"probe_copy-mailman3-anonymous-list.eml": &yes,
		"probe_copy-mailman3-wrap-message.eml":   &yes,
		// The list's own notices, captured unsigned: listprobe cannot
		// tell that the list's server sent them, so they are hints and
		// never deleted (issue 15).
		"hold_notice-mailman3-moderated-member.eml": &no,
		"bounce-exim-latin1-diagnostic.eml":         &no,
		"unrelated-forward-italian-i.eml":           nil,
		"unrelated-mailman3-mime-digest.eml":        nil,
		"bounce-postfix-unknown-list.eml":           nil, // nolist@ is not configured
	} {
		want[ev+name] = d
	}
	var files []string
	for f := range want {
		files = append(files, f)
	}
	code, out, errOut := runCmd(t, append([]string{"explain", "--output=json", "--config.file=" + cfg}, files...)...)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	var doc struct{ Messages []explained }
	if err := json.Unmarshal([]byte(out), &doc); err != nil || len(doc.Messages) != len(files) {
		t.Fatalf("%v: %s", err, out)
	}
	for _, m := range doc.Messages {
		w := want[m.File]
		switch {
		case w == nil && m.Deletable != nil:
			t.Errorf("%s: deletable=%v, want nothing said", m.File, *m.Deletable)
		case w != nil && (m.Deletable == nil || *m.Deletable != *w):
			t.Errorf("%s: deletable=%v, want %v", m.File, m.Deletable, *w)
		}
	}
}
