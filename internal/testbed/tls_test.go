package testbed

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"os"
	"testing"

	"github.com/emersion/go-imap/v2/imapclient"
	"github.com/emersion/go-smtp"
)

// The testbed's TLS contract: its servers present a certificate from
// CA_FILE for TLS_SERVER_NAME on every TLS port, and it does not verify
// against OTHER_CA_FILE.
func TestTLSVerifiesAgainstTheTestbedCAOnly(t *testing.T) {
	e := Load(t)
	good := e.TLSConfig(t)
	pem, err := os.ReadFile(e.Get(t, "OTHER_CA_FILE"))
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		t.Fatal("OTHER_CA_FILE holds no certificate")
	}
	other := &tls.Config{RootCAs: pool, ServerName: e.Get(t, "TLS_SERVER_NAME")}
	byIP := good.Clone()
	byIP.ServerName = "127.0.0.1"

	dial := map[string]func(*tls.Config) error{
		"IMAPS 993": func(c *tls.Config) error {
			cl, err := imapclient.DialTLS(e.Get(t, "IMAPS"), &imapclient.Options{TLSConfig: c})
			if err == nil {
				err = cl.Login(e.Get(t, "READER"), e.Secret(t, "READER_PASSWORD_FILE")).Wait()
				cl.Close()
			}
			return err
		},
		"IMAP STARTTLS 143": func(c *tls.Config) error {
			cl, err := imapclient.DialStartTLS(e.Get(t, "IMAP"), &imapclient.Options{TLSConfig: c})
			if err == nil {
				cl.Close()
			}
			return err
		},
		"submission STARTTLS 587": func(c *tls.Config) error {
			cl, err := smtp.DialStartTLS(e.Get(t, "SMTP"), c)
			if err == nil {
				// go-smtp shakes hands with the first command after STARTTLS.
				err = cl.Noop()
				cl.Close()
			}
			return err
		},
		"submissions 465": func(c *tls.Config) error {
			cl, err := smtp.DialTLS(e.Get(t, "SUBMISSIONS"), c)
			if err == nil {
				err = cl.Noop()
				cl.Close()
			}
			return err
		},
	}
	for name, d := range dial {
		t.Run(name, func(t *testing.T) {
			if err := d(good); err != nil {
				t.Errorf("with the testbed CA: %v", err)
			}
			if err := d(byIP); err != nil {
				t.Errorf("with the testbed CA, by IP address: %v", err)
			}
			err := d(other)
			var unknown x509.UnknownAuthorityError
			if !errors.As(err, &unknown) {
				t.Errorf("with the other CA: %v, want an unknown-authority error", err)
			}
		})
	}
}
