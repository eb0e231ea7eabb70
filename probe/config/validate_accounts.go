package config

import (
	"crypto"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/netip"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/listprobe/listprobe/checks/mailtls"
)

// The rules of the accounts, their servers and the Mailman servers: TLS,
// credentials, the secret and key files they name.

func (a *AccountConfig) validate(v *validator, path []any) {
	if a.Address == "" {
		v.errorf(join(path, "address"), "is required")
	} else if err := checkAddress(a.Address); err != nil {
		v.errorf(join(path, "address"), "%v", err)
	}
	if a.SMTP == nil && a.IMAP == nil {
		v.errorf(path, "has neither smtp nor imap: it can neither post nor read")
	}
	if a.SMTP != nil {
		p := join(path, "smtp")
		s := a.SMTP
		s.ServerConfig.validate(v, p, mailtls.StartTLS)
		switch s.Auth {
		case "":
			s.Auth = "none"
			if s.Username != "" {
				s.Auth = "plain"
			}
		case "plain", "login", "oauthbearer", "anonymous", "external", "none":
		default:
			v.errorf(join(p, "auth"), "%q is not one of plain, login, oauthbearer, anonymous, external, none", s.Auth)
		}
		switch s.Auth {
		case "plain", "login", "oauthbearer":
			if s.Username == "" {
				v.errorf(join(p, "username"), "is required for auth %s", s.Auth)
			}
			if s.PasswordFile == "" && s.PasswordEnv == "" {
				v.errorf(join(p, "password_file"), "password_file or password_env is required for auth %s", s.Auth)
			}
			s.checkPlaintext(v, p, a.AllowPlaintext, path, "SMTP AUTH "+s.Auth)
		}
	}
	if a.IMAP != nil {
		p := join(path, "imap")
		a.IMAP.ServerConfig.validate(v, p, mailtls.Implicit)
		if a.IMAP.Username == "" {
			v.errorf(join(p, "username"), "is required")
		}
		if a.IMAP.PasswordFile == "" && a.IMAP.PasswordEnv == "" {
			v.errorf(join(p, "password_file"), "password_file or password_env is required")
		}
		if a.IMAP.JunkMailbox == "" {
			a.IMAP.JunkMailbox = "Junk"
		}
		if a.IMAP.Mailbox == "" {
			a.IMAP.Mailbox = "INBOX"
		}
		a.IMAP.checkPlaintext(v, p, a.AllowPlaintext, path, "IMAP LOGIN")
	}
	if a.DKIM != nil {
		p := join(path, "dkim")
		if a.DKIM.Domain == "" {
			v.errorf(join(p, "domain"), "is required")
		}
		if a.DKIM.Selector == "" {
			v.errorf(join(p, "selector"), "is required")
		}
		if a.DKIM.PrivateKeyFile == "" {
			v.errorf(join(p, "private_key_file"), "is required")
		} else if !v.opts.skipSecrets() {
			if key, err := v.readPrivateKey(join(p, "private_key_file"), a.DKIM.PrivateKeyFile); err != nil {
				v.errorf(join(p, "private_key_file"), "%v", err)
			} else {
				a.dkimKey = key
			}
		}
	}
}

func (s *ServerConfig) validate(v *validator, path []any, defaultTLS mailtls.Mode) {
	host := ""
	if s.Address == "" {
		v.errorf(join(path, "address"), "is required (host:port)")
	} else if h, port, err := net.SplitHostPort(s.Address); err != nil || h == "" || port == "" {
		if strings.ContainsAny(s.Address, "@/") {
			// A URL or user:password@host: do not echo it.
			v.errorf(join(path, "address"), "must be host:port, without a scheme, user name or password")
		} else {
			v.errorf(join(path, "address"), "%q is not host:port", s.Address)
		}
	} else {
		host = h
	}
	switch s.TLS {
	case "":
		s.TLS = defaultTLS
	case mailtls.Implicit, mailtls.StartTLS, mailtls.None:
	default:
		v.errorf(join(path, "tls"), "%q is not tls, starttls or none", s.TLS)
	}
	if s.PasswordFile != "" || s.PasswordEnv != "" {
		if pw, _, ok := v.readSecret(path, "password", s.PasswordFile, s.PasswordEnv, false); ok {
			s.password = newSecret(pw)
		}
	}
	if s.TLS != mailtls.None {
		s.tlsConfig = s.TLSSettings.clientConfig(v, path, host)
	}
}

// checkPlaintext refuses a password sent without TLS to a host other than
// loopback, unless the account allows it; allowed, it is a warning.
func (s *ServerConfig) checkPlaintext(v *validator, path []any, allow bool, account []any, what string) {
	if s.TLS != mailtls.None {
		return
	}
	host, _, err := net.SplitHostPort(s.Address)
	if err != nil || isLoopback(host) {
		return
	}
	if allow {
		v.warnf(join(path, "tls"), "%s sends the password to %s unencrypted (allow_plaintext: true)", what, host)
		return
	}
	v.errorf(join(path, "tls"), "none would send the password (%s) to %s unencrypted; use tls or starttls, or set %s.allow_plaintext: true if the network is trusted", what, host, fieldName(account))
}

// isLoopback reports whether host is a loopback name or address as
// written: "localhost", 127.0.0.0/8 or ::1. No DNS: a name that merely
// resolves to loopback today is not loopback.
func isLoopback(host string) bool {
	if strings.EqualFold(strings.TrimSuffix(host, "."), "localhost") {
		return true
	}
	a, err := netip.ParseAddr(host)
	return err == nil && a.Unmap().IsLoopback()
}

func (m *MailmanConfig) validate(v *validator, path []any) {
	urlPath := join(path, "url")
	var u *url.URL
	switch {
	case m.URL == "":
		v.errorf(urlPath, "is required, e.g. https://lists.example.org/3.1")
	case strings.Contains(m.URL, "@"):
		// Checked before parsing: "htps://user:pw@host" or
		// "user:pw@host" parse oddly or not at all, and must never be
		// echoed.
		v.errorf(urlPath, "must not contain a user name or password; use username and password_file")
	default:
		parsed, err := url.Parse(m.URL)
		switch {
		case err != nil || (parsed.Scheme != "http" && parsed.Scheme != "https") || parsed.Host == "" || parsed.Opaque != "":
			// url.Parse's error quotes the URL: not shown.
			v.errorf(urlPath, "is not an http or https URL like https://lists.example.org/3.1")
		case parsed.RawQuery != "" || parsed.ForceQuery || parsed.Fragment != "":
			v.errorf(urlPath, "must not contain a query or fragment")
		default:
			u = parsed
		}
	}
	if m.Username == "" {
		v.errorf(join(path, "username"), "is required")
	}
	if m.PasswordFile == "" && m.PasswordEnv == "" {
		v.errorf(join(path, "password_file"), "password_file or password_env is required")
	} else if pw, _, ok := v.readSecret(path, "password", m.PasswordFile, m.PasswordEnv, false); ok {
		m.password = newSecret(pw)
	}
	if m.Refresh == 0 {
		m.Refresh = Duration(DefaultMailmanRefresh)
	}
	if m.Refresh < 0 {
		v.errorf(join(path, "refresh"), "must be positive")
	}
	m.MailmanPipeline.validate(v, path)
	if u == nil {
		return
	}
	switch {
	case u.Scheme == "https":
		m.tlsConfig = m.TLSSettings.clientConfig(v, path, u.Hostname())
	case isLoopback(u.Hostname()):
	case m.AllowPlaintext:
		v.warnf(urlPath, "http:// sends the REST password to %s unencrypted (allow_plaintext: true)", u.Hostname())
	default:
		v.errorf(urlPath, "http:// would send the REST password to %s unencrypted; use https, or set %s.allow_plaintext: true if the network is trusted", u.Hostname(), fieldName(path))
	}
}

// clientConfig is the one place a client TLS configuration is made, for
// SMTP, IMAP and Mailman alike: verified against the system roots plus
// ca_file, for the server name or the host.
func (t *TLSSettings) clientConfig(v *validator, path []any, host string) *tls.Config {
	name := t.ServerName
	if name == "" {
		name = host
	}
	tc := &tls.Config{ServerName: name, InsecureSkipVerify: t.InsecureSkipVerify, MinVersion: tls.VersionTLS12}
	if t.InsecureSkipVerify {
		v.warnf(join(path, "insecure_skip_verify"), "the server's certificate is not verified: anyone on the path can read the password")
	}
	if t.CAFile == "" {
		return tc
	}
	file := v.path(t.CAFile)
	if pool, ok := v.caPools[file]; ok {
		tc.RootCAs = pool
		return tc
	}
	pemData, err := readSmallFile(file, 4<<20)
	if err != nil {
		v.errorf(join(path, "ca_file"), "cannot read the CA file %s: %v", v.shownPath(t.CAFile), err)
		return tc
	}
	pool, err := x509.SystemCertPool()
	if err != nil {
		pool = x509.NewCertPool()
	}
	if !pool.AppendCertsFromPEM(pemData) {
		v.errorf(join(path, "ca_file"), "the CA file holds no PEM certificate")
		return tc
	}
	if v.caPools == nil {
		v.caPools = map[string]*x509.CertPool{}
	}
	v.caPools[file] = pool
	tc.RootCAs = pool
	return tc
}

// readSecret reads name_file or name_env. It returns the secret, the field it
// came from, and whether it was read. Its errors name neither the file nor
// the variable: a password written there by mistake would be echoed.
func (v *validator) readSecret(path []any, name, file, env string, required bool) (string, string, bool) {
	fileField, envField := name+"_file", name+"_env"
	if v.opts.skipSecrets() && (file != "" || env != "") {
		return "", "", false
	}
	switch {
	case file != "" && env != "":
		v.errorf(join(path, envField), "set %s or %s, not both", fileField, envField)
		return "", "", false
	case file != "":
		p := join(path, fileField)
		b, err := readSmallFile(v.path(file), 64<<10)
		if err != nil {
			v.errorf(p, "cannot read the secret file %s: %v%s", v.shownPath(file), err, credentialHint(file))
			return "", "", false
		}
		s := strings.TrimRight(string(b), "\r\n")
		if s == "" {
			v.errorf(p, "the secret file is empty")
			return "", "", false
		}
		v.addSecretFile(p, file)
		return s, fileField, true
	case env != "":
		s, ok := os.LookupEnv(env)
		if !ok || s == "" {
			v.errorf(join(path, envField), "the environment variable it names is not set or is empty")
			return "", "", false
		}
		return s, envField, true
	case required:
		v.errorf(join(path, fileField), "%s or %s is required", fileField, envField)
	}
	return "", "", false
}

func (v *validator) addSecretFile(path []any, file string) {
	line, _ := v.position(path)
	v.secretFiles = append(v.secretFiles, secretFile{field: fieldName(path), line: line, path: v.path(file)})
}

// shownPath names the file a *_file field was resolved to, for an error
// (a path is not a secret): absolute, and for a relative value what it was
// relative to. A value with neither a slash nor a dot is not shown: it may
// be a password written into the field by mistake.
func (v *validator) shownPath(file string) string {
	abs, err := filepath.Abs(v.path(file))
	if err != nil {
		abs = v.path(file)
	}
	switch {
	case !strings.ContainsAny(file, "/."):
		return "in " + filepath.Dir(abs) + " (its name is not shown: with neither a / nor a dot it may be a password written there by mistake)"
	case filepath.IsAbs(file):
		return abs
	}
	return abs + " (" + file + ", relative to the config file's directory)"
}

// credentialHint explains a missing systemd credential outside the service.
func credentialHint(file string) string {
	if !strings.HasPrefix(file, "/run/credentials/") || os.Getenv("CREDENTIALS_DIRECTORY") != "" {
		return ""
	}
	return "; it is a systemd credential, which exists only inside the service: outside it, check the config with --config.check-secrets=false"
}

// readSmallFile reads a regular file of at most limit bytes: a secret or a
// key named by mistake as /dev/zero or a FIFO must not hang the load. Its
// errors leave out the path.
func readSmallFile(file string, limit int64) ([]byte, error) {
	// O_NONBLOCK: opening a FIFO would otherwise wait for a writer.
	f, err := os.OpenFile(file, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		return nil, pathless(err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, pathless(err)
	}
	if !fi.Mode().IsRegular() {
		return nil, errors.New("not a regular file")
	}
	data, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, pathless(err)
	}
	if int64(len(data)) > limit {
		return nil, fmt.Errorf("larger than %d KiB", limit>>10)
	}
	return data, nil
}

func pathless(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

func (v *validator) readPrivateKey(path []any, file string) (crypto.Signer, error) {
	data, err := readSmallFile(v.path(file), 64<<10)
	if err != nil {
		return nil, fmt.Errorf("cannot read the DKIM key %s: %v%s", v.shownPath(file), err, credentialHint(file))
	}
	v.addSecretFile(path, file)
	block, _ := pem.Decode(data)
	if block == nil {
		return nil, errors.New("the file holds no PEM block")
	}
	if k, err := x509.ParsePKCS8PrivateKey(block.Bytes); err == nil {
		if s, ok := k.(crypto.Signer); ok {
			return s, nil
		}
	}
	if k, err := x509.ParsePKCS1PrivateKey(block.Bytes); err == nil {
		return k, nil
	}
	return nil, errors.New("not an RSA or Ed25519 private key in PKCS#1 or PKCS#8 PEM")
}
