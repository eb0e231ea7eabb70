// Package config implements listprobe's configuration file: its types (plain
// structs decoded strictly from YAML), loading (LoadFile, or Load for bytes
// already read) and the rules that validate it. Every error names its file,
// line and field; all errors are reported at once.
//
// The types and their accessors are here, reading and decoding in load.go,
// the rules in validate.go, the shortest interval of a schedule in
// config_interval.go, and the lookups and subsets the runtime uses in
// subset.go.
package config

import (
	"crypto"
	"crypto/tls"
	"fmt"
	"slices"
	"time"

	"github.com/robfig/cron/v3"
	"go.yaml.in/yaml/v3"

	"github.com/listprobe/listprobe/checks/mailtls"
	"github.com/listprobe/listprobe/checks/token"
)

// Defaults of the config file.
const (
	DefaultSchedule       = "*/5 * * * *"
	DefaultTimeout        = 4 * time.Minute
	DefaultPollInterval   = 10 * time.Second
	DefaultMailmanRefresh = time.Minute
	// DefaultMinInterval is the shortest schedule interval a config may
	// set: every probe posts a message that the list sends to each of its
	// subscribers, so a faster schedule floods them. Dedicated canary
	// lists are probed once a minute, so one minute stays allowed.
	DefaultMinInterval = time.Minute
	// MaxListAddressLen is the longest list address in bytes: the probe
	// token carries the list in at most 200 base32 characters (see
	// token.Find), which hold 125 bytes. A longer address would make
	// every probe of the list lost.
	MaxListAddressLen = 125
)

// Config is listprobe's configuration file.
type Config struct {
	Global   GlobalConfig              `yaml:"global"`
	Accounts map[string]*AccountConfig `yaml:"accounts"`
	Mailman  map[string]*MailmanConfig `yaml:"mailman"`
	// ListServers say how to tell a list server's mail (authn.go).
	ListServers map[string]*ListServerConfig `yaml:"list_servers"`
	Lists       []*ListConfig                `yaml:"lists"`

	// File is the path the config was read from, for messages.
	File string `yaml:"-"`
	// signer is made from the signing key at load time.
	signer *token.Signer
	// warnings are found at load time and completed by Warnings.
	warnings []Warning
	// secretFiles are the secret files read, checked by Warnings for their
	// permissions.
	secretFiles []secretFile
	// byAddress finds a list by its lower-cased address (List is called
	// per probe and per message: a scan would cost lists² per schedule).
	byAddress map[string]*ListConfig
}

// GlobalConfig holds the defaults for every list.
type GlobalConfig struct {
	// Schedule is a cron spec (five fields, or a descriptor such as @every 5m).
	// Default "*/5 * * * *"; it may not fire more often than once a minute.
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
	// DNS is the resolver that checks incoming mail (authn.go).
	DNS DNSConfig `yaml:"dns"`
}

// AccountConfig is a mail account listprobe posts from or reads.
type AccountConfig struct {
	Address string `yaml:"address"`
	// Cleanup deletes this account's own verified probes and notices once
	// recorded. Default false.
	Cleanup bool        `yaml:"cleanup"`
	DKIM    *DKIMConfig `yaml:"dkim"`
	SMTP    *SMTPConfig `yaml:"smtp"`
	IMAP    *IMAPConfig `yaml:"imap"`
	// AllowPlaintext lets the account's password go over a connection
	// without TLS (tls: none) to a host that is not loopback. Default
	// false: such a config is refused.
	AllowPlaintext bool `yaml:"allow_plaintext"`

	name    string
	dkimKey crypto.Signer
}

// DKIMConfig makes listprobe sign its posts with DKIM.
type DKIMConfig struct {
	Domain         string `yaml:"domain"`
	Selector       string `yaml:"selector"`
	PrivateKeyFile string `yaml:"private_key_file"`
}

// TLSSettings are the certificate settings every client shares: SMTP, IMAP
// and the Mailman REST API.
//
// prometheus/common/config.TLSConfig was considered and not adopted: it
// would nest these keys under tls_config (the documented config keeps them
// flat, beside tls: the mode), its ca_file replaces the system roots where
// ours adds to them, its secrets have no password_env, and it decodes with
// yaml.v2 hooks that lose the field paths of our errors.
type TLSSettings struct {
	// CAFile adds a CA (PEM) to the system's roots.
	CAFile string `yaml:"ca_file"`
	// InsecureSkipVerify turns certificate verification off. Default
	// false; Warnings reports it.
	InsecureSkipVerify bool `yaml:"insecure_skip_verify"`
	// ServerName is the name the certificate must carry. Default the host
	// of the address or URL.
	ServerName string `yaml:"server_name"`
}

// ServerConfig is what SMTP and IMAP servers have in common.
type ServerConfig struct {
	Address string `yaml:"address"`
	// TLS is tls (implicit), starttls or none. Default tls for IMAP,
	// starttls for SMTP.
	TLS          mailtls.Mode `yaml:"tls"`
	TLSSettings  `yaml:",inline"`
	Username     string `yaml:"username"`
	PasswordFile string `yaml:"password_file"`
	PasswordEnv  string `yaml:"password_env"`

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
	// JunkMailbox is the spam folder a reader also watches when the
	// server marks none with SPECIAL-USE \Junk (RFC 6154). Default Junk.
	// A server with neither is fine: the Junk folder is then not watched.
	JunkMailbox string `yaml:"junk_mailbox"`
}

// MailmanConfig is the REST API of a Mailman 3 server.
type MailmanConfig struct {
	// URL is the API's base, e.g. https://lists.example.org/3.1; it may
	// not carry a user name, a password, a query or a fragment.
	URL          string `yaml:"url"`
	Username     string `yaml:"username"`
	PasswordFile string `yaml:"password_file"`
	PasswordEnv  string `yaml:"password_env"`
	TLSSettings  `yaml:",inline"`
	// AllowPlaintext lets the REST password go over http:// to a host that
	// is not loopback. Default false: such a config is refused.
	AllowPlaintext bool `yaml:"allow_plaintext"`
	// DiscardHeld discards held probes through the API once recorded, so
	// that moderators are not left with them. Never accepts. Default false.
	DiscardHeld bool `yaml:"discard_held"`
	// Refresh is how often list moderation settings and queue depth are
	// read. Default 1m.
	Refresh Duration `yaml:"refresh"`
	// Audit reads every list of the server, probed or not (audit.go).
	// Default: none.
	Audit *AuditConfig `yaml:"audit"`
	// MailmanPipeline: the queues, the digest and bounce-disabled members.
	MailmanPipeline `yaml:",inline"`

	password  Secret
	tlsConfig *tls.Config
}

// ListConfig is one list to probe.
type ListConfig struct {
	Address string `yaml:"address"`
	Poster  string `yaml:"poster"`
	// Reader is the one account that reads the list's copies; Readers,
	// several (one per receiving provider, say). Set one of the two: once
	// validated, Readers holds every reader and Reader the first.
	Reader    string   `yaml:"reader"`
	Readers   []string `yaml:"readers"`
	Moderator string   `yaml:"moderator"`
	Mailman   string   `yaml:"mailman"`
	Expect    Expect   `yaml:"expect"`
	Schedule  string   `yaml:"schedule"`
	Timeout   Duration `yaml:"timeout"`
	// Archive, when set, checks that a delivered probe reached the
	// list's archive (archive.go).
	Archive *ArchiveConfig `yaml:"archive"`
	// ListServer names the list_servers block that says how to tell the
	// list server's mail. Default: none (only its domain's signatures).
	ListServer string `yaml:"list_server"`

	schedule cron.Schedule
	interval time.Duration
}

// Expect is the outcome a list's probes should have: the name of one of
// the probe outcomes (package probe), delivered or held.
type Expect string

// The values of Expect; "" in the file means ExpectDelivered.
const (
	ExpectDelivered Expect = "delivered"
	ExpectHeld      Expect = "held"
)

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

// UnmarshalYAML parses a Go duration string. Its error leaves out the line
// and the field: the decoder adds both.
func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	var s string
	if err := n.Decode(&s); err != nil {
		return err
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return fmt.Errorf("%q is not a duration like 90s or 5m", s)
	}
	*d = Duration(v)
	return nil
}

// MarshalYAML writes the duration as a string.
func (d Duration) MarshalYAML() (any, error) { return time.Duration(d).String(), nil }

// Signer returns the token signer made from the signing key.
func (c *Config) Signer() *token.Signer { return c.signer }

// DKIMKey returns the private key read from DKIM.PrivateKeyFile, nil
// without DKIM.
func (a *AccountConfig) DKIMKey() crypto.Signer { return a.dkimKey }

// Name returns the account's name in the config.
func (a *AccountConfig) Name() string { return a.name }

// Password returns the secret read from password_file or password_env.
func (s *ServerConfig) Password() string { return s.password.Value() }

// TLSConfig returns the TLS settings for the server, nil for tls: none.
func (s *ServerConfig) TLSConfig() *tls.Config { return s.tlsConfig }

// Password returns the REST password.
func (m *MailmanConfig) Password() string { return m.password.Value() }

// TLSConfig returns the TLS client settings for the REST API, nil for an
// http:// URL.
func (m *MailmanConfig) TLSConfig() *tls.Config { return m.tlsConfig }

// ScheduleSpec returns the list's effective cron spec.
// HasReader reports whether account reads the list's copies.
func (l *ListConfig) HasReader(account string) bool {
	return slices.Contains(l.ReaderAccounts(), account)
}

// ReaderAccounts are the accounts that read the list's copies, in the
// configured order.
func (l *ListConfig) ReaderAccounts() []string {
	if len(l.Readers) == 0 && l.Reader != "" {
		return []string{l.Reader}
	}
	return l.Readers
}

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

// Interval returns the shortest time between two runs of the list's
// schedule, computed once at load: cheap enough to call per list and per
// run.
func (l *ListConfig) Interval() time.Duration { return l.interval }
