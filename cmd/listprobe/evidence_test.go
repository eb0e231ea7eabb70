package main

import (
	"strings"
	"testing"

	"github.com/listprobe/listprobe/probe/config"
)

// check-config says of each list whether its copies must be authenticated
// or count whoever sent them (a forged copy would count), and why.
func TestCheckConfigSaysWhetherCopiesMustBeAuthenticated(t *testing.T) {
	const base = `global: { signing_key_file: key }
accounts:
  member: { address: probe@example.org, smtp: { address: "smtp.example.org:587", username: probe@example.org, password_file: pw }, imap: { address: "imap.example.org:993", username: probe@example.org, password_file: pw } }
SERVERS
lists:
  - { address: users@lists.example.org, poster: member, reader: member LISTSERVER }
`
	for _, tc := range []struct{ server, want string }{
		{"", "; copies unauthenticated: a forged copy would count (name the list server's hosts and receiving server, authserv_ids or signing_domains in a list_server, or set copies: authenticated there if lists.example.org DKIM-signs its copies)\n"},
		{"{ hosts: [192.0.2.10], receiver_hosts: [mx.example.org] }", "; Received from 192.0.2.10; copies must be authenticated\n"},
		{"{ copies: authenticated }", "; copies must be authenticated (copies: authenticated): if lists.example.org does not DKIM-sign them, every probe is lost\n"},
		{"{ signing_domains: [example.org], copies: any }", "; copies unauthenticated (copies: any): a forged copy would count\n"},
	} {
		text := strings.Replace(base, "SERVERS\n", "", 1)
		text = strings.Replace(text, " LISTSERVER", "", 1)
		if tc.server != "" {
			text = strings.Replace(base, "SERVERS", "list_servers:\n  main: "+tc.server, 1)
			text = strings.Replace(text, " LISTSERVER", ", list_server: main", 1)
		}
		cfg, err := config.Load("listprobe.yml", []byte(text), &config.Options{SkipSecrets: true})
		if err != nil {
			t.Fatalf("%s: %v", tc.server, err)
		}
		var b strings.Builder
		printEvidencePaths(&b, cfg)
		if !strings.HasSuffix(b.String(), tc.want) {
			t.Errorf("list server %s:\n got %q\nwant it to end in %q", tc.server, b.String(), tc.want)
		}
	}
}
