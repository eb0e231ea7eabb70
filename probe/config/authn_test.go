package config

import (
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/listprobe/listprobe/checks/authn"
)

const listServersConfig = `
global:
  signing_key_file: signing.key
  dns: { server: "127.0.0.153:53", timeout: 3s }
accounts:
  member:
    address: probe@example.org
    smtp: { address: "smtp.example.org:587", username: probe@example.org, password_file: member.password }
  reader:
    address: reader@example.org
    imap: { address: "imap.example.org:993", username: reader@example.org, password_file: reader.password }
list_servers:
  main:
    signing_domains: [example.org]
    hosts: [lists.example.org, 192.0.2.10]
    authserv_ids: [mx.example.org]
    authres_below_received: true
lists:
  - address: users@lists.example.org
    poster: member
    reader: reader
    list_server: main
  - address: other@other.example.org
    poster: member
    reader: reader
`

func TestListServerGivesTheAuthnOptions(t *testing.T) {
	c, err := Load(filepath.Join("testdata", "list-servers.yml"), []byte(listServersConfig), nil)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := c.Global.ResolverOptions(), (authn.ResolverOptions{Server: "127.0.0.153:53", Timeout: 3 * time.Second}); got != want {
		t.Errorf("resolver %+v, want %+v", got, want)
	}
	want := authn.Options{
		ListDomain: "lists.example.org", SigningDomains: []string{"example.org"},
		ListHosts: []string{"lists.example.org", "192.0.2.10"}, AuthServIDs: []string{"mx.example.org"},
		AuthResultsBelowReceived: true,
	}
	if got := c.AuthnOptions("Users@lists.example.org"); !reflect.DeepEqual(got, want) {
		t.Errorf("options\n got %+v\nwant %+v", got, want)
	}
	// A list without a list server: only its own domain's signatures.
	if got := c.AuthnOptions("other@other.example.org"); !reflect.DeepEqual(got, authn.Options{ListDomain: "other.example.org"}) {
		t.Errorf("without a list server: %+v", got)
	}
}

// A list's copies must be authenticated to count as delivered where its
// list server names a path every genuine copy passes, or says so; a list
// without one (or copies: any) counts every copy.
func TestCopiesMustAuthenticate(t *testing.T) {
	for _, tc := range []struct {
		server string // the list_servers block; "" for no list_server
		want   bool
	}{
		{"", false},
		{"{ hosts: [192.0.2.10], receiver_hosts: [mx.example.org] }", true},
		{"{ hosts: [192.0.2.10], authserv_ids: [mx.example.org] }", true},
		{"{ authserv_ids: [mx.example.org] }", true},
		{"{ signing_domains: [example.org] }", true},
		{"{ copies: authenticated }", true},
		{"{ hosts: [192.0.2.10], receiver_hosts: [mx.example.org], copies: any }", false},
		{"{ receiver_hosts: [mx.example.org] }", false}, // no list server host: no path
	} {
		text := strings.Replace(listServersConfig, "list_servers:\n  main:\n    signing_domains: [example.org]\n    hosts: [lists.example.org, 192.0.2.10]\n    authserv_ids: [mx.example.org]\n    authres_below_received: true\n", "", 1)
		if tc.server != "" {
			text = strings.Replace(text, "lists:\n", "list_servers:\n  main: "+tc.server+"\nlists:\n", 1)
		} else {
			text = strings.Replace(text, "    list_server: main\n", "", 1)
		}
		c, err := Load(filepath.Join("testdata", "list-servers.yml"), []byte(text), &Options{SkipSecrets: true})
		if err != nil {
			t.Fatalf("%s: %v", tc.server, err)
		}
		if got := c.CopiesMustAuthenticate("users@lists.example.org"); got != tc.want {
			t.Errorf("list server %s: copies must be authenticated %t, want %t", tc.server, got, tc.want)
		}
		if c.CopiesMustAuthenticate("other@other.example.org") {
			t.Errorf("list server %s: a list without a list_server must authenticate its copies", tc.server)
		}
	}
	text := strings.Replace(listServersConfig, "    authres_below_received: true\n", "    authres_below_received: true\n    copies: signed\n", 1)
	_, err := Load(filepath.Join("testdata", "list-servers.yml"), []byte(text), &Options{SkipSecrets: true})
	if err == nil || !strings.Contains(err.Error(), `list_servers.main.copies: want authenticated or any, not "signed"`) {
		t.Errorf("copies: signed: %v", err)
	}
}
