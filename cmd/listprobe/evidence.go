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
		fmt.Fprintln(w, line)
	}
}
