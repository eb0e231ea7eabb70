package main

import (
	"fmt"
	"io"
	"strings"

	"github.com/listprobe/listprobe/probe/config"
)

// printEvidencePaths says, for each list, what makes a notice, rejection or
// bounce about its probes believed (issue 15): a DKIM signature or ARC
// seal of its domain always; the receiving server's Authentication-Results
// and Received hop when its list_server names them; Mailman's held queue
// when it has a Mailman REST API. A list with only the first can get
// authenticated evidence only if its domain signs its mail, which the
// configuration cannot tell: check-config says so.
func printEvidencePaths(w io.Writer, cfg *config.Config) {
	for i, l := range cfg.Lists {
		o := cfg.AuthnOptions(l.Address)
		domains := append([]string{o.ListDomain}, o.SigningDomains...)
		paths := []string{"DKIM or ARC of " + strings.Join(domains, ", ")}
		if len(o.AuthServIDs) > 0 {
			paths = append(paths, "Authentication-Results of "+strings.Join(o.AuthServIDs, ", "))
		}
		if len(o.ListHosts) > 0 {
			paths = append(paths, "Received from "+strings.Join(o.ListHosts, ", "))
		}
		if l.Mailman != "" {
			paths = append(paths, "Mailman REST held queue ("+l.Mailman+")")
		}
		line := fmt.Sprintf("lists[%d] %s: notices believed by %s", i, l.Address, strings.Join(paths, "; "))
		if len(paths) == 1 {
			line += fmt.Sprintf("; only unauthenticated evidence (hints, used only when no copy comes) unless %s DKIM-signs its notices: name its receiving server or hosts in a list_server", o.ListDomain)
		}
		fmt.Fprintln(w, line+copiesClause(cfg, l))
	}
}

// copiesClause says whether a list's copies must be authenticated to count
// as delivered (config.CopiesMustAuthenticate) or count whatever sent
// them, so that a stranger's forged copy would count too.
func copiesClause(cfg *config.Config, l *config.ListConfig) string {
	o := cfg.AuthnOptions(l.Address)
	explicit := ""
	if s := cfg.ListServers[l.ListServer]; s != nil && s.Copies != "" {
		explicit = " (copies: " + s.Copies + ")"
	}
	switch {
	case !cfg.CopiesMustAuthenticate(l.Address) && explicit != "":
		return "; copies unauthenticated" + explicit + ": a forged copy would count"
	case !cfg.CopiesMustAuthenticate(l.Address):
		return fmt.Sprintf("; copies unauthenticated: a forged copy would count (name the list server's hosts and receiving server, authserv_ids or signing_domains in a list_server, or set copies: authenticated there if %s DKIM-signs its copies)", o.ListDomain)
	case len(o.SigningDomains) == 0 && len(o.AuthServIDs) == 0 && len(o.ListHosts) == 0:
		return fmt.Sprintf("; copies must be authenticated%s: if %s does not DKIM-sign them, every probe is lost", explicit, o.ListDomain)
	}
	return "; copies must be authenticated" + explicit
}
