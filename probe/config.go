package probe

import (
	"bytes"
	"crypto"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"net"
	"net/mail"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/robfig/cron/v3"
	"go.yaml.in/yaml/v3"

	"github.com/listprobe/listprobe/checks"
)

// Defaults of the config file.
const (
	DefaultSchedule       = "*/5 * * * *"
	DefaultTimeout        = 4 * time.Minute
	DefaultPollInterval   = 10 * time.Second
	DefaultMailmanRefresh = time.Minute
)

// Config is listprobe's configuration file.
type Config struct {
	Global   GlobalConfig              `yaml:"global"`
	Accounts map[string]*AccountConfig `yaml:"accounts"`
	Mailman  map[string]*MailmanConfig `yaml:"mailman"`
	Lists    []*ListConfig             `yaml:"lists"`

	// File is the path the config was read from, for messages.
	File string `yaml:"-"`
	// signer is made from the signing key at load time.
	signer *checks.Signer
}

// GlobalConfig holds the defaults for every list.
type GlobalConfig struct {
	// Schedule is a cron spec (five fields, or a descriptor such as @every 5m).
	// Default "*/5 * * * *".
	Schedule string `yaml:"schedule"`
	// Timeout is how long a probe waits for an outcome before it is lost.
	// Default 4m; it must be shorter than the schedule's interval.
	Timeout Duration `yaml:"timeout"`
	// SigningKeyFile (or SigningKeyEnv) holds the secret for probe tokens.
	SigningKeyFile string `yaml:"signing_key_file"`
	SigningKeyEnv  string `yaml:"signing_key_env"`
	// PollInterval is how often mailboxes are polled when IMAP IDLE is not
	// available. Default 10s.
	PollInterval Duration `yaml:"poll_interval"`
}

// AccountConfig is a mail account listprobe posts from or reads.
type AccountConfig struct {
	Address string      `yaml:"address"`
	Cleanup bool        `yaml:"cleanup"`
	DKIM    *DKIMConfig `yaml:"dkim"`
	SMTP    *SMTPConfig `yaml:"smtp"`
	IMAP    *IMAPConfig `yaml:"imap"`

	name    string
	dkimKey crypto.Signer
}

// DKIMConfig makes listprobe sign its posts with DKIM.
type DKIMConfig struct {
	Domain         string `yaml:"domain"`
	Selector       string `yaml:"selector"`
	PrivateKeyFile string `yaml:"private_key_file"`
}

// ServerConfig is what SMTP and IMAP servers have in common.
type ServerConfig struct {
	Address            string         `yaml:"address"`
	TLS                checks.TLSMode `yaml:"tls"`
	CAFile             string         `yaml:"ca_file"`
	InsecureSkipVerify bool           `yaml:"insecure_skip_verify"`
	Username           string         `yaml:"username"`
	PasswordFile       string         `yaml:"password_file"`
	PasswordEnv        string         `yaml:"password_env"`

	password  Secret
	tlsConfig *tls.Config
}

// SMTPConfig is the submission server of a posting account.
type SMTPConfig struct {
	ServerConfig `yaml:",inline"`
	// Auth is the SASL mechanism: plain (default when a username is set),
	// login, oauthbearer, anonymous, external or none.
	Auth string `yaml:"auth"`
}

// IMAPConfig is the IMAP server of an account.
type IMAPConfig struct {
	ServerConfig `yaml:",inline"`
	// Mailbox is the folder to watch. Default INBOX.
	Mailbox string `yaml:"mailbox"`
}

// MailmanConfig is the REST API of a Mailman 3 server.
type MailmanConfig struct {
	URL                string `yaml:"url"`
	Username           string `yaml:"username"`
	PasswordFile       string `yaml:"password_file"`
	PasswordEnv        string `yaml:"password_env"`
	CAFile             string `yaml:"ca_file"`
	InsecureSkipVerify bool   `yaml:"insecure_skip_verify"`
	// DiscardHeld discards held probes through the API once recorded, so
	// that moderators are not left with them. Never accepts. Default false.
	DiscardHeld bool `yaml:"discard_held"`
	// Refresh is how often list moderation settings and queue depth are
	// read. Default 1m.
	Refresh Duration `yaml:"refresh"`

	password  Secret
	tlsConfig *tls.Config
}

// ListConfig is one list to probe.
type ListConfig struct {
	Address   string   `yaml:"address"`
	Poster    string   `yaml:"poster"`
	Reader    string   `yaml:"reader"`
	Moderator string   `yaml:"moderator"`
	Mailman   string   `yaml:"mailman"`
	Expect    Outcome  `yaml:"expect"`
	Schedule  string   `yaml:"schedule"`
	Timeout   Duration `yaml:"timeout"`

	schedule cron.Schedule
}

// Secret holds a password or key. It never prints, even inside a struct
// printed with %+v: the value sits behind a pointer.
type Secret struct{ p *string }

func newSecret(s string) Secret { return Secret{&s} }

// Value returns the secret itself.
func (s Secret) Value() string {
	if s.p == nil {
		return ""
	}
	return *s.p
}

// String hides the secret.
func (Secret) String() string { return "<secret>" }

// MarshalText hides the secret.
func (Secret) MarshalText() ([]byte, error) { return []byte("<secret>"), nil }

// Duration is a time.Duration written like "90s" or "5m".
type Duration time.Duration

// UnmarshalYAML parses a Go duration string.
func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	var s string
	if err := n.Decode(&s); err != nil {
		return err
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return fmt.Errorf("line %d: %q is not a duration like 90s or 5m", n.Line, s)
	}
	*d = Duration(v)
	return nil
}

// MarshalYAML writes the duration as a string.
func (d Duration) MarshalYAML() (any, error) { return time.Duration(d).String(), nil }

// Signer returns the token signer made from the signing key.
func (c *Config) Signer() *checks.Signer { return c.signer }

// Account returns the named account.
func (c *Config) Account(name string) *AccountConfig { return c.Accounts[name] }

// Name returns the account's name in the config.
func (a *AccountConfig) Name() string { return a.name }

// Password returns the secret read from password_file or password_env.
func (s *ServerConfig) Password() string { return s.password.Value() }

// TLSConfig returns the TLS settings for the server, nil for tls: none.
func (s *ServerConfig) TLSConfig() *tls.Config { return s.tlsConfig }

// Password returns the REST password.
func (m *MailmanConfig) Password() string { return m.password.Value() }

// TLSConfig returns the TLS client settings for the REST API.
func (m *MailmanConfig) TLSConfig() *tls.Config { return m.tlsConfig }

// ScheduleSpec returns the list's effective cron spec.
func (l *ListConfig) ScheduleSpec(g GlobalConfig) string {
	if l.Schedule != "" {
		return l.Schedule
	}
	return g.Schedule
}

// EffectiveTimeout returns the list's timeout, or the global one.
func (l *ListConfig) EffectiveTimeout(g GlobalConfig) time.Duration {
	if l.Timeout != 0 {
		return time.Duration(l.Timeout)
	}
	return time.Duration(g.Timeout)
}

// CronSchedule returns the parsed schedule.
func (l *ListConfig) CronSchedule() cron.Schedule { return l.schedule }

// LoadFile reads, decodes and validates a config file, and reads the secrets
// it names. Every error names the file, the line and the field.
func LoadFile(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read config: %w", err)
	}
	return Load(path, data)
}

// ConfigError is a config problem at a place in the file.
type ConfigError struct {
	File  string
	Line  int    // 0 when unknown
	Field string // e.g. "lists[0].poster"
	Msg   string
}

func (e *ConfigError) Error() string {
	var b strings.Builder
	b.WriteString(e.File)
	if e.Line > 0 {
		fmt.Fprintf(&b, ":%d", e.Line)
	}
	b.WriteString(": ")
	if e.Field != "" {
		b.WriteString(e.Field + ": ")
	}
	b.WriteString(e.Msg)
	return b.String()
}

var yamlErrLine = regexp.MustCompile(`^line (\d+): (.*)$`)
var yamlUnknownField = regexp.MustCompile(`^field (\S+) not found in type \S+$`)

// Load decodes and validates config data read from file (used in messages).
func Load(file string, data []byte) (*Config, error) {
	var root yaml.Node
	if err := yaml.Unmarshal(data, &root); err != nil {
		return nil, yamlError(file, err)
	}
	cfg := &Config{File: file}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(cfg); err != nil {
		if errors.Is(err, errEOF) || err.Error() == "EOF" {
			return nil, &ConfigError{File: file, Msg: "config is empty"}
		}
		return nil, yamlError(file, err)
	}
	v := &validator{file: file, root: &root}
	cfg.validate(v)
	if len(v.errs) > 0 {
		return nil, errors.Join(v.errs...)
	}
	return cfg, nil
}

var errEOF = errors.New("EOF")

// yamlError turns the decoder's errors into ConfigErrors with the file name.
func yamlError(file string, err error) error {
	var te *yaml.TypeError
	if errors.As(err, &te) {
		var errs []error
		for _, e := range te.Errors {
			errs = append(errs, yamlLineError(file, e))
		}
		return errors.Join(errs...)
	}
	return yamlLineError(file, strings.TrimPrefix(err.Error(), "yaml: "))
}

func yamlLineError(file, msg string) error {
	ce := &ConfigError{File: file, Msg: msg}
	if m := yamlErrLine.FindStringSubmatch(msg); m != nil {
		ce.Line, _ = strconv.Atoi(m[1])
		ce.Msg = m[2]
		if u := yamlUnknownField.FindStringSubmatch(ce.Msg); u != nil {
			ce.Msg = fmt.Sprintf("unknown field %q", u[1])
		}
	}
	return ce
}

type validator struct {
	file string
	root *yaml.Node
	errs []error
}

// path resolves a file named in the config relative to the config's
// directory, as Prometheus does.
func (v *validator) path(p string) string {
	if p == "" || filepath.IsAbs(p) {
		return p
	}
	return filepath.Join(filepath.Dir(v.file), p)
}

// errorf records an error about the field at path (keys and indexes, as in
// "lists", 0, "poster"); the line comes from the YAML node at that path, or
// its closest existing parent.
func (v *validator) errorf(path []any, format string, args ...any) {
	v.errs = append(v.errs, &ConfigError{File: v.file, Line: v.line(path), Field: fieldName(path), Msg: fmt.Sprintf(format, args...)})
}

func fieldName(path []any) string {
	var b strings.Builder
	for _, p := range path {
		switch p := p.(type) {
		case int:
			fmt.Fprintf(&b, "[%d]", p)
		case string:
			if b.Len() > 0 {
				b.WriteByte('.')
			}
			b.WriteString(p)
		}
	}
	return b.String()
}

func (v *validator) line(path []any) int {
	n := v.root
	if n == nil || len(n.Content) == 0 {
		return 0
	}
	n = n.Content[0]
	line := n.Line
	for _, p := range path {
		var next *yaml.Node
		switch p := p.(type) {
		case string:
			if n.Kind == yaml.MappingNode {
				for i := 0; i+1 < len(n.Content); i += 2 {
					if n.Content[i].Value == p {
						line = n.Content[i].Line
						next = n.Content[i+1]
						break
					}
				}
			}
		case int:
			if n.Kind == yaml.SequenceNode && p < len(n.Content) {
				next = n.Content[p]
				line = next.Line
			}
		}
		if next == nil {
			return line
		}
		n = next
	}
	return line
}

func join(path []any, more ...any) []any {
	return append(append([]any{}, path...), more...)
}

func (c *Config) validate(v *validator) {
	g := &c.Global
	if g.Schedule == "" {
		g.Schedule = DefaultSchedule
	}
	if g.Timeout == 0 {
		g.Timeout = Duration(DefaultTimeout)
	}
	if g.PollInterval == 0 {
		g.PollInterval = Duration(DefaultPollInterval)
	}
	if g.Timeout < 0 {
		v.errorf([]any{"global", "timeout"}, "must be positive")
	}
	if g.PollInterval < 0 {
		v.errorf([]any{"global", "poll_interval"}, "must be positive")
	}
	globalSched, err := parseSchedule(g.Schedule)
	if err != nil {
		v.errorf([]any{"global", "schedule"}, "%v", err)
	}
	if key, field, ok := readSecret(v, []any{"global"}, "signing_key", g.SigningKeyFile, g.SigningKeyEnv, true); ok {
		s, err := checks.NewSigner([]byte(key))
		if err != nil {
			v.errorf([]any{"global", field}, "%v", err)
		}
		c.signer = s
	}

	if len(c.Accounts) == 0 {
		v.errorf([]any{"accounts"}, "at least one account is required")
	}
	for _, name := range sortedKeys(c.Accounts) {
		a := c.Accounts[name]
		path := []any{"accounts", name}
		if a == nil {
			v.errorf(path, "account is empty")
			continue
		}
		a.name = name
		a.validate(v, path)
	}
	for _, name := range sortedKeys(c.Mailman) {
		m := c.Mailman[name]
		path := []any{"mailman", name}
		if m == nil {
			v.errorf(path, "mailman server is empty")
			continue
		}
		m.validate(v, path)
	}

	if len(c.Lists) == 0 {
		v.errorf([]any{"lists"}, "at least one list is required")
	}
	seen := map[string]int{}
	for i, l := range c.Lists {
		path := []any{"lists", i}
		if l == nil {
			v.errorf(path, "list is empty")
			continue
		}
		if l.Address == "" {
			v.errorf(join(path, "address"), "is required")
		} else if err := checkAddress(l.Address); err != nil {
			v.errorf(join(path, "address"), "%v", err)
		} else {
			l.Address = strings.ToLower(l.Address)
			if j, dup := seen[l.Address]; dup {
				v.errorf(join(path, "address"), "%s is already configured as lists[%d]", l.Address, j)
			}
			seen[l.Address] = i
		}
		switch {
		case l.Poster == "":
			v.errorf(join(path, "poster"), "is required: the account that posts as a member")
		case c.Accounts[l.Poster] == nil:
			v.errorf(join(path, "poster"), "unknown account %q", l.Poster)
		case c.Accounts[l.Poster].SMTP == nil:
			v.errorf(join(path, "poster"), "account %q has no smtp server to post with", l.Poster)
		}
		switch {
		case l.Reader == "":
			v.errorf(join(path, "reader"), "is required: the subscribed account that receives the list's copies")
		case c.Accounts[l.Reader] == nil:
			v.errorf(join(path, "reader"), "unknown account %q", l.Reader)
		case c.Accounts[l.Reader].IMAP == nil:
			v.errorf(join(path, "reader"), "account %q has no imap server to read copies from", l.Reader)
		}
		if l.Moderator != "" {
			switch {
			case c.Accounts[l.Moderator] == nil:
				v.errorf(join(path, "moderator"), "unknown account %q", l.Moderator)
			case c.Accounts[l.Moderator].IMAP == nil:
				v.errorf(join(path, "moderator"), "account %q has no imap server to read notices from", l.Moderator)
			}
		}
		if l.Mailman != "" && c.Mailman[l.Mailman] == nil {
			v.errorf(join(path, "mailman"), "unknown mailman server %q", l.Mailman)
		}
		switch l.Expect {
		case "":
			l.Expect = Delivered
		case Delivered, Held:
		default:
			v.errorf(join(path, "expect"), "%q is not delivered or held", l.Expect)
		}
		l.schedule = globalSched
		if l.Schedule != "" {
			s, err := parseSchedule(l.Schedule)
			if err != nil {
				v.errorf(join(path, "schedule"), "%v", err)
			}
			l.schedule = s
		}
		if l.Timeout < 0 {
			v.errorf(join(path, "timeout"), "must be positive")
		}
		if l.schedule != nil {
			timeout := l.EffectiveTimeout(c.Global)
			if iv := minInterval(l.schedule); timeout >= iv {
				field := join(path, "timeout")
				if l.Timeout == 0 {
					field = []any{"global", "timeout"}
				}
				v.errorf(field, "timeout %s for %s is not shorter than its schedule's interval %s (%q)", timeout, l.Address, iv, l.ScheduleSpec(c.Global))
			}
		}
	}
}

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
		a.SMTP.ServerConfig.validate(v, p, checks.TLSStartTLS)
		switch a.SMTP.Auth {
		case "":
			a.SMTP.Auth = "none"
			if a.SMTP.Username != "" {
				a.SMTP.Auth = "plain"
			}
		case "plain", "login", "oauthbearer", "anonymous", "external", "none":
		default:
			v.errorf(join(p, "auth"), "%q is not one of plain, login, oauthbearer, anonymous, external, none", a.SMTP.Auth)
		}
		switch a.SMTP.Auth {
		case "plain", "login", "oauthbearer":
			if a.SMTP.Username == "" {
				v.errorf(join(p, "username"), "is required for auth %s", a.SMTP.Auth)
			}
			if a.SMTP.PasswordFile == "" && a.SMTP.PasswordEnv == "" {
				v.errorf(join(p, "password_file"), "password_file or password_env is required for auth %s", a.SMTP.Auth)
			}
		}
	}
	if a.IMAP != nil {
		p := join(path, "imap")
		a.IMAP.ServerConfig.validate(v, p, checks.TLSImplicit)
		if a.IMAP.Username == "" {
			v.errorf(join(p, "username"), "is required")
		}
		if a.IMAP.PasswordFile == "" && a.IMAP.PasswordEnv == "" {
			v.errorf(join(p, "password_file"), "password_file or password_env is required")
		}
		if a.IMAP.Mailbox == "" {
			a.IMAP.Mailbox = "INBOX"
		}
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
		} else if key, err := readPrivateKey(v.path(a.DKIM.PrivateKeyFile)); err != nil {
			v.errorf(join(p, "private_key_file"), "%v", err)
		} else {
			a.dkimKey = key
		}
	}
}

func (s *ServerConfig) validate(v *validator, path []any, defaultTLS checks.TLSMode) {
	if s.Address == "" {
		v.errorf(join(path, "address"), "is required (host:port)")
	} else if host, port, err := net.SplitHostPort(s.Address); err != nil || host == "" || port == "" {
		v.errorf(join(path, "address"), "%q is not host:port", s.Address)
	}
	switch s.TLS {
	case "":
		s.TLS = defaultTLS
	case checks.TLSImplicit, checks.TLSStartTLS, checks.TLSNone:
	default:
		v.errorf(join(path, "tls"), "%q is not tls, starttls or none", s.TLS)
	}
	if s.PasswordFile != "" || s.PasswordEnv != "" {
		if pw, _, ok := readSecret(v, path, "password", s.PasswordFile, s.PasswordEnv, false); ok {
			s.password = newSecret(pw)
		}
	}
	if s.TLS != checks.TLSNone {
		host, _, _ := net.SplitHostPort(s.Address)
		tc, err := clientTLS(host, v.path(s.CAFile), s.InsecureSkipVerify)
		if err != nil {
			v.errorf(join(path, "ca_file"), "%v", err)
		}
		s.tlsConfig = tc
	}
}

func (m *MailmanConfig) validate(v *validator, path []any) {
	u, err := url.Parse(m.URL)
	switch {
	case m.URL == "":
		v.errorf(join(path, "url"), "is required, e.g. http://127.0.0.1:8001/3.1")
	case err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "":
		v.errorf(join(path, "url"), "%q is not an http or https URL", m.URL)
	}
	if m.Username == "" {
		v.errorf(join(path, "username"), "is required")
	}
	if m.PasswordFile == "" && m.PasswordEnv == "" {
		v.errorf(join(path, "password_file"), "password_file or password_env is required")
	} else if pw, _, ok := readSecret(v, path, "password", m.PasswordFile, m.PasswordEnv, false); ok {
		m.password = newSecret(pw)
	}
	if m.Refresh == 0 {
		m.Refresh = Duration(DefaultMailmanRefresh)
	}
	if u != nil && u.Scheme == "https" {
		tc, err := clientTLS(u.Hostname(), v.path(m.CAFile), m.InsecureSkipVerify)
		if err != nil {
			v.errorf(join(path, "ca_file"), "%v", err)
		}
		m.tlsConfig = tc
	}
}

// readSecret reads name_file or name_env. It returns the secret, the field it
// came from, and whether it was read.
func readSecret(v *validator, path []any, name, file, env string, required bool) (string, string, bool) {
	fileField, envField := name+"_file", name+"_env"
	switch {
	case file != "" && env != "":
		v.errorf(join(path, envField), "set %s or %s, not both", fileField, envField)
		return "", "", false
	case file != "":
		b, err := os.ReadFile(v.path(file))
		if err != nil {
			v.errorf(join(path, fileField), "cannot read secret: %v", err)
			return "", "", false
		}
		s := strings.TrimRight(string(b), "\r\n")
		if s == "" {
			v.errorf(join(path, fileField), "secret file %s is empty", file)
			return "", "", false
		}
		return s, fileField, true
	case env != "":
		s, ok := os.LookupEnv(env)
		if !ok || s == "" {
			v.errorf(join(path, envField), "environment variable %s is not set or empty", env)
			return "", "", false
		}
		return s, envField, true
	case required:
		v.errorf(join(path, fileField), "%s or %s is required", fileField, envField)
	}
	return "", "", false
}

func clientTLS(host, caFile string, insecure bool) (*tls.Config, error) {
	tc := &tls.Config{ServerName: host, InsecureSkipVerify: insecure, MinVersion: tls.VersionTLS12}
	if caFile == "" {
		return tc, nil
	}
	pemData, err := os.ReadFile(caFile)
	if err != nil {
		return tc, fmt.Errorf("cannot read CA file: %w", err)
	}
	pool, err := x509.SystemCertPool()
	if err != nil {
		pool = x509.NewCertPool()
	}
	if !pool.AppendCertsFromPEM(pemData) {
		return tc, fmt.Errorf("%s holds no PEM certificate", caFile)
	}
	tc.RootCAs = pool
	return tc, nil
}

func readPrivateKey(file string) (crypto.Signer, error) {
	data, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("cannot read DKIM key: %w", err)
	}
	block, _ := pem.Decode(data)
	if block == nil {
		return nil, fmt.Errorf("%s holds no PEM block", file)
	}
	if k, err := x509.ParsePKCS8PrivateKey(block.Bytes); err == nil {
		if s, ok := k.(crypto.Signer); ok {
			return s, nil
		}
	}
	if k, err := x509.ParsePKCS1PrivateKey(block.Bytes); err == nil {
		return k, nil
	}
	return nil, fmt.Errorf("%s: not an RSA or Ed25519 private key in PKCS#1 or PKCS#8 PEM", file)
}

func checkAddress(a string) error {
	addr, err := mail.ParseAddress(a)
	if err != nil || addr.Address != a || addr.Name != "" {
		return fmt.Errorf("%q is not a bare mail address like list@example.org", a)
	}
	return nil
}

var cronParser = cron.NewParser(cron.Minute | cron.Hour | cron.Dom | cron.Month | cron.Dow | cron.Descriptor)

func parseSchedule(spec string) (cron.Schedule, error) {
	s, err := cronParser.Parse(spec)
	if err != nil {
		return nil, fmt.Errorf("%q is not a cron schedule: %w", spec, err)
	}
	return s, nil
}

// minInterval returns the shortest time between two runs of s over its next
// few hundred runs from a fixed date.
func minInterval(s cron.Schedule) time.Duration {
	t := s.Next(time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC))
	best := time.Duration(1<<63 - 1)
	for i := 0; i < 600; i++ {
		n := s.Next(t)
		if n.IsZero() {
			break
		}
		if d := n.Sub(t); d < best {
			best = d
		}
		t = n
	}
	return best
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
