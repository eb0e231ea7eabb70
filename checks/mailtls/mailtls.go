// Package mailtls implements the TLS choices the SMTP and IMAP clients
// share: how a connection is secured (Mode) and the verified client
// configuration they both start from (ClientConfig).
package mailtls

import "crypto/tls"

// Mode says how a client secures its connection.
type Mode string

// The TLS modes of the config file.
const (
	Implicit Mode = "tls"      // TLS from the first byte (ports 465, 993)
	StartTLS Mode = "starttls" // STARTTLS, required: never silently downgraded
	None     Mode = "none"     // clear text
)

// ClientConfig returns the TLS configuration for a connection to host:
// verified against the system roots unless the caller says otherwise, and
// always with a ServerName so that verification has a name to check. It
// never changes cfg.
func ClientConfig(cfg *tls.Config, host string) *tls.Config {
	if cfg == nil {
		return &tls.Config{ServerName: host, MinVersion: tls.VersionTLS12}
	}
	cfg = cfg.Clone()
	if cfg.ServerName == "" {
		cfg.ServerName = host
	}
	return cfg
}
