package main

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-msgauth/dkim"

	"github.com/listprobe/listprobe/checks/compose"
	"github.com/listprobe/listprobe/checks/token"
	"github.com/listprobe/listprobe/internal/dnstest"
)

// explain shows the authentication verdict of a saved copy, as serve
// judges it: with the configuration's list server and DNS.
func TestExplainShowsTheAuthenticationVerdict(t *testing.T) {
	dns := dnstest.Start(t)
	pub, key, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	dns.Set("list._domainkey.lists.example.org", "v=DKIM1; k=ed25519; p="+base64.StdEncoding.EncodeToString(pub))
	dir := t.TempDir()
	const signingKey = "listprobe-explain-authn-key-1"
	os.WriteFile(filepath.Join(dir, "key"), []byte(signingKey), 0o600)
	t.Setenv("LISTPROBE_EXPLAIN_TEST_PW", "unused")
	cfgFile := filepath.Join(dir, "listprobe.yml")
	os.WriteFile(cfgFile, []byte(`global: { signing_key_file: key, dns: { server: "`+dns.Addr+`", timeout: 1s } }
accounts:
  member: { address: member@example.org, smtp: { address: "127.0.0.1:1", tls: none }, imap: { address: "127.0.0.1:1", tls: none, username: member, password_env: LISTPROBE_EXPLAIN_TEST_PW } }
list_servers:
  main: { hosts: [192.0.2.10], authserv_ids: [mx.example.org] }
lists:
  - { address: users@lists.example.org, poster: member, reader: member, list_server: main }
`), 0o600)

	args := writeAuthnCopies(t, dir, signingKey, key)

	code, out, errOut := runCmd(t, append([]string{"explain", "--config.file=" + cfgFile}, args...)...)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	for i, want := range []string{
		` authenticated=dkim dkim=pass:lists.example.org spf=none dmarc=none:example.org arc=none list_id=pass:users.lists.example.org one_click_unsubscribe=none auth_reason="DKIM signature of lists.example.org verifies"`,
		` authenticated=no dkim=fail:lists.example.org`,
		` authenticated=received `,
	} {
		if i >= len(lines) || !strings.Contains(lines[i], want) {
			t.Errorf("line %d lacks %q:\n%s", i, want, out)
		}
	}
	if !strings.Contains(out, `auth_reason="DKIM signature of lists.example.org does not verify: body hash did not verify"`) {
		t.Errorf("the altered copy's reason:\n%s", out)
	}

	_, out, _ = runCmd(t, "explain", "--output=json", "--config.file="+cfgFile, args[0])
	var doc struct {
		Messages []struct {
			Kind            string `json:"kind"`
			Authenticated   *bool  `json:"authenticated"`
			AuthenticatedBy string `json:"authenticated_by"`
			Authentication  map[string]struct {
				Result string `json:"result"`
				Domain string `json:"domain"`
			} `json:"authentication"`
		} `json:"messages"`
	}
	if err := json.Unmarshal([]byte(out), &doc); err != nil || len(doc.Messages) != 1 {
		t.Fatalf("%v: %s", err, out)
	}
	m := doc.Messages[0]
	if m.Kind != "probe_copy" || m.Authenticated == nil || !*m.Authenticated || m.AuthenticatedBy != "dkim" ||
		m.Authentication["dkim"].Result != "pass" || m.Authentication["dkim"].Domain != "lists.example.org" {
		t.Errorf("json: %s", out)
	}

	// Without a configuration nothing says whom to trust: no verdict.
	_, out, _ = runCmd(t, "explain", "--output=json", args[0])
	if strings.Contains(out, "authenticat") {
		t.Errorf("a verdict without a configuration: %s", out)
	}
}

// writeAuthnCopies writes three copies of a probe of users@lists.example.org
// into dir and returns their paths: signed by the list's domain with key,
// the same with its body altered, and one with only a Received field of
// the list server's host.
func writeAuthnCopies(t *testing.T, dir, signingKey string, key ed25519.PrivateKey) []string {
	t.Helper()
	signer, err := token.NewSigner([]byte(signingKey))
	if err != nil {
		t.Fatal(err)
	}
	tok := signer.NewToken("users@lists.example.org", time.Now())
	post, err := compose.Message(compose.Probe{From: "member@example.org", List: "users@lists.example.org", Token: signer.Encode(tok), Date: time.Now()}, nil)
	if err != nil {
		t.Fatal(err)
	}
	// The list's copy: its List-Id, signed by the list's domain.
	listCopy := append([]byte("List-Id: <users.lists.example.org>\r\n"), post...)
	var signed bytes.Buffer
	if err := dkim.Sign(&signed, bytes.NewReader(listCopy), &dkim.SignOptions{Domain: "lists.example.org", Selector: "list", Signer: key,
		HeaderKeys: []string{"From", "To", "Subject", "Message-ID", "List-Id"}}); err != nil {
		t.Fatal(err)
	}
	altered := bytes.Replace(signed.Bytes(), []byte("\r\n\r\n"), []byte("\r\n\r\nforged line\r\n"), 1)
	received := append([]byte("Received: from lists.example.org (lists.example.org [192.0.2.10])\r\n\tby mx.example.org (Postfix) with ESMTPS id 1; Sat, 06 Dec 2025 10:00:00 +0000\r\n"), post...)
	files := map[string][]byte{"signed.eml": signed.Bytes(), "altered.eml": altered, "received.eml": received}
	var args []string
	for _, name := range []string{"signed.eml", "altered.eml", "received.eml"} {
		p := filepath.Join(dir, name)
		os.WriteFile(p, files[name], 0o600)
		args = append(args, p)
	}
	return args
}
