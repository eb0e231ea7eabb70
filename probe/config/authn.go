package config

import (
	"strings"
	"time"

	"github.com/listprobe/listprobe/checks/authn"
)

// This file holds what tells the mail a list server sent from mail that
// merely says so (issue 15): the DNS resolver for DKIM keys, ARC seals and
// DMARC records (global.dns), and, per list server, the domains that sign
// for it, its hosts, and the receiving server whose word counts
// (list_servers, named by a list's list_server).

// DNSConfig configures the resolver that checks incoming mail.
type DNSConfig struct {
	// Server is the DNS server, "host:port" or an address (port 53).
	// Default: the servers of the system's resolv.conf.
	Server string `yaml:"server"`
	// Timeout bounds one lookup. Default 2s.
	Timeout Duration `yaml:"timeout"`
}

// ListServerConfig says how to tell that a list server sent a message. A
// list's own domain always counts as a signing domain: a list without a
// list_server is authenticated by a DKIM signature or an ARC set of its
// domain, or not at all.
type ListServerConfig struct {
	// SigningDomains are further DKIM and ARC d= domains that sign for the
	// list server (a provider's signing domain).
	SigningDomains []string `yaml:"signing_domains"`
	// Hosts are the list server's host names or addresses as the receiving
	// server records the connection in its Received field (the reverse
	// name or the address in brackets, never the HELO name).
	Hosts []string `yaml:"hosts"`
	// AuthservIDs are the authserv-ids of the receiving server (the mail
	// server of the accounts that read the list's mail) whose
	// Authentication-Results are trusted.
	AuthservIDs []string `yaml:"authserv_ids"`
	// ReceiverHosts are the names the receiving server writes after "by"
	// in its Received fields. Default: authserv_ids.
	ReceiverHosts []string `yaml:"receiver_hosts"`
	// AuthResultsBelowReceived says that the receiving server puts its
	// Authentication-Results just below its own Received field and
	// removes the incoming ones, as rspamd does. Default false: only those
	// above that field count.
	AuthResultsBelowReceived bool `yaml:"authres_below_received"`
	// Copies says whether a copy of a list's probe decides "delivered"
	// only when one of the paths above proves that the list server sent
	// it (CopiesAuthenticated) or whatever its authentication
	// (CopiesAny: a stranger's forged copy then counts). Default: see
	// CopiesMustAuthenticate.
	Copies string `yaml:"copies"`
}

// The values of a list server's copies setting.
const (
	CopiesAuthenticated = "authenticated"
	CopiesAny           = "any"
)

// copyPath reports whether the block names a path that every genuine copy
// of its lists passes: a domain that signs for the list server, the
// receiving server's Authentication-Results, or the Received hop from the
// list server's hosts. A list's own domain alone is not one: whether it
// signs is not known from the configuration.
func (s *ListServerConfig) copyPath() bool {
	return len(s.SigningDomains) > 0 || len(s.AuthservIDs) > 0 || len(s.Hosts) > 0 && len(s.ReceiverHosts) > 0
}

// CopiesMustAuthenticate reports whether a copy of the list at address
// decides "delivered" only when authenticated (issue 15: anyone can send
// the reader a message with the probe's Message-ID, From, Subject and
// token). It is what the list's list_server says in copies, and by
// default yes when that block names a path every genuine copy passes
// (copyPath). A list without one keeps counting unauthenticated copies,
// marked so in its result: it has no way to tell them from a forgery.
func (c *Config) CopiesMustAuthenticate(address string) bool {
	l := c.List(address)
	if l == nil || l.ListServer == "" {
		return false
	}
	s := c.ListServers[l.ListServer]
	if s == nil {
		return false
	}
	switch s.Copies {
	case CopiesAuthenticated:
		return true
	case CopiesAny:
		return false
	}
	return s.copyPath()
}

// ResolverOptions are the options of the resolver global.dns describes.
func (g GlobalConfig) ResolverOptions() authn.ResolverOptions {
	return authn.ResolverOptions{Server: g.DNS.Server, Timeout: time.Duration(g.DNS.Timeout)}
}

// AuthnOptions says what authenticates mail about the list at address: a
// signature of its own domain, and what its list server's block allows.
// The resolver is the caller's to set (the service's, whose cache
// outlives a config).
func (c *Config) AuthnOptions(address string) authn.Options {
	var o authn.Options
	if i := strings.LastIndexByte(address, '@'); i >= 0 {
		o.ListDomain = address[i+1:]
	}
	l := c.List(address)
	if l == nil || l.ListServer == "" {
		return o
	}
	if s := c.ListServers[l.ListServer]; s != nil {
		o.SigningDomains = s.SigningDomains
		o.ListHosts = s.Hosts
		o.AuthServIDs = s.AuthservIDs
		o.ReceiverHosts = s.ReceiverHosts
		o.AuthResultsBelowReceived = s.AuthResultsBelowReceived
	}
	return o
}

// validateDNS checks global.dns.
func (g *GlobalConfig) validateDNS(v *validator) {
	if g.DNS.Server != "" {
		if _, err := authn.NewResolver(authn.ResolverOptions{Server: g.DNS.Server}); err != nil {
			v.errorf([]any{"global", "dns", "server"}, "want host:port or an IP address")
		}
	}
	if g.DNS.Timeout < 0 {
		v.errorf([]any{"global", "dns", "timeout"}, "must be positive")
	}
}

// validateListServers checks the list_servers blocks and returns their
// names.
func (c *Config) validateListServers(v *validator) []string {
	return eachBlock(v, "list_servers", "list server", c.ListServers, func(_ string, s *ListServerConfig, path []any) {
		for _, f := range []struct {
			key   string
			hosts []string
		}{{"signing_domains", s.SigningDomains}, {"hosts", s.Hosts}, {"authserv_ids", s.AuthservIDs}, {"receiver_hosts", s.ReceiverHosts}} {
			for i, h := range f.hosts {
				if h == "" || len(h) > 253 || strings.ContainsAny(h, " \t\r\n;,()<>@\"\\") {
					v.errorf(join(path, f.key, i), "not a host name, domain or address")
				}
			}
		}
		if len(s.Hosts) > 0 && len(s.AuthservIDs) == 0 && len(s.ReceiverHosts) == 0 {
			v.errorf(join(path, "hosts"), "needs receiver_hosts or authserv_ids: only the receiving server's own Received field can name the list server")
		}
		if s.AuthResultsBelowReceived && len(s.AuthservIDs) == 0 {
			v.errorf(join(path, "authres_below_received"), "needs authserv_ids")
		}
		if s.Copies != "" && s.Copies != CopiesAuthenticated && s.Copies != CopiesAny {
			v.errorf(join(path, "copies"), "want %s or %s, not %.64q", CopiesAuthenticated, CopiesAny, s.Copies)
		}
	})
}

// validateListServer checks the list_server a list names.
func (c *Config) validateListServer(v *validator, path []any, l *ListConfig, names []string) {
	if _, ok := c.ListServers[l.ListServer]; l.ListServer != "" && !ok && !v.reported("list_servers") {
		v.errorf(join(path, "list_server"), "unknown list server %.64q%s", l.ListServer, suggest(l.ListServer, names))
	}
}
