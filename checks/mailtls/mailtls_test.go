package mailtls

import (
	"crypto/tls"
	"testing"
)

func TestClientConfigVerifiesTheServerName(t *testing.T) {
	c := ClientConfig(nil, "imap.example.org")
	if c.ServerName != "imap.example.org" || c.InsecureSkipVerify || c.MinVersion != tls.VersionTLS12 {
		t.Errorf("default config %+v, want ServerName imap.example.org, verified, TLS 1.2 or later", c)
	}
	given := &tls.Config{MinVersion: tls.VersionTLS13}
	c = ClientConfig(given, "smtp.example.org")
	if c.ServerName != "smtp.example.org" || c.MinVersion != tls.VersionTLS13 {
		t.Errorf("config %+v, want the given one with ServerName smtp.example.org", c)
	}
	if given.ServerName != "" {
		t.Errorf("the caller's config was changed: ServerName %q", given.ServerName)
	}
	c = ClientConfig(&tls.Config{ServerName: "mail.example.org"}, "127.0.0.1")
	if c.ServerName != "mail.example.org" {
		t.Errorf("ServerName %q, want the caller's mail.example.org", c.ServerName)
	}
}
