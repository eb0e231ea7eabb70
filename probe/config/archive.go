package config

import (
	"crypto/tls"
	"net/url"
	"time"
)

// DefaultArchiveTimeout is how long a delivered probe waits for its post to
// show in the list's archive.
const DefaultArchiveTimeout = 2 * time.Minute

// The kinds of archive listprobe can read.
const (
	ArchiveHyperKitty = "hyperkitty" // HyperKitty's REST API, by Message-ID-Hash
	ArchiveIMAP       = "imap"       // a mailbox that keeps every post, searched by Message-ID
	ArchiveSympa      = "sympa"      // Sympa's web archive (WWSympa), searched by Message-ID
)

// ArchiveConfig says where a list's archive is:
//
//	archive: { url: https://lists.example.org/hyperkitty/ }   # HyperKitty
//	archive: { kind: imap, account: archive }                 # a mailbox subscribed to the list
//	archive: { kind: sympa, url: https://lists.example.org/sympa }   # Sympa's web archive
type ArchiveConfig struct {
	// Kind is hyperkitty, imap or sympa. Default: hyperkitty with url,
	// imap with account.
	Kind string `yaml:"kind"`
	// URL is HyperKitty's root, e.g. https://lists.example.org/hyperkitty/,
	// or (sympa) WWSympa's, Sympa's wwsympa_url, e.g.
	// https://lists.example.org/sympa.
	URL         string `yaml:"url"`
	TLSSettings `yaml:",inline"`
	// Account is the accounts: entry (with imap) whose mailbox archives
	// the list; Mailbox its folder (default the account's, or INBOX).
	Account string `yaml:"account"`
	Mailbox string `yaml:"mailbox"`
	// Timeout is how long after the delivery the post may take to show in
	// the archive. Default 2m.
	Timeout Duration `yaml:"timeout"`

	tlsConfig *tls.Config
	// account is Account's configuration, kept here: a config narrowed to
	// the lists' own accounts (once, shards) opens no session for it.
	account *AccountConfig
}

func (a *ArchiveConfig) validate(v *validator, path []any, accounts map[string]*AccountConfig) {
	if a == nil {
		return
	}
	if a.Kind == "" {
		switch {
		case a.URL != "":
			a.Kind = ArchiveHyperKitty
		case a.Account != "":
			a.Kind = ArchiveIMAP
		}
	}
	switch a.Kind {
	case ArchiveHyperKitty:
		a.validateURL(v, path, "a HyperKitty archive", "https://lists.example.org/hyperkitty/")
	case ArchiveSympa:
		a.validateURL(v, path, "a Sympa archive (Sympa's wwsympa_url)", "https://lists.example.org/sympa")
	case ArchiveIMAP:
		acc := accounts[a.Account]
		switch {
		case a.Account == "":
			v.errorf(join(path, "account"), "is required for an IMAP archive: the account whose mailbox keeps the list's posts")
		case acc == nil:
			v.errorf(join(path, "account"), "unknown account %q", a.Account)
		case acc.IMAP == nil:
			v.errorf(join(path, "account"), "account %q has no imap server", a.Account)
		default:
			a.account = acc
		}
	case "":
		v.errorf(path, "needs a url (HyperKitty), an account (an IMAP archive folder) or kind: sympa with a url")
	default:
		v.errorf(join(path, "kind"), "%q is not hyperkitty, imap or sympa", a.Kind)
	}
	if a.Timeout == 0 {
		a.Timeout = Duration(DefaultArchiveTimeout)
	}
	if a.Timeout < 0 {
		v.errorf(join(path, "timeout"), "must be positive")
	}
}

// validateURL checks the url of a web archive (what names the kind, e.g.
// "a HyperKitty archive"; example a URL of that kind).
func (a *ArchiveConfig) validateURL(v *validator, path []any, what, example string) {
	u, err := url.Parse(a.URL)
	switch {
	case a.URL == "":
		v.errorf(join(path, "url"), "is required for %s, e.g. %s", what, example)
	case err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil:
		v.errorf(join(path, "url"), "is not an http or https URL like %s", example)
	case u.Scheme == "https":
		a.tlsConfig = a.TLSSettings.clientConfig(v, path, u.Hostname())
	}
}

// TLSConfig is the client TLS configuration for an https:// archive URL.
func (a *ArchiveConfig) TLSConfig() *tls.Config { return a.tlsConfig }

// AccountConfig is the configuration of the IMAP archive's account.
func (a *ArchiveConfig) AccountConfig() *AccountConfig { return a.account }
