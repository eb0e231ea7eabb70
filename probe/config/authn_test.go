package config

import (
	"path/filepath"
	"reflect"
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
