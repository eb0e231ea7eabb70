package main

import (
	"fmt"
	"io"
	"sort"
	"strings"
	"time"

	"github.com/listprobe/listprobe/probe/config"
)

// printAudits says, for check-config, which Mailman servers are audited and
// how: the lists, the pace and the baseline, and the REST load per list.
func printAudits(w io.Writer, cfg *config.Config) {
	var names []string
	for name, m := range cfg.Mailman {
		if m.Audit != nil {
			names = append(names, name)
		}
	}
	sort.Strings(names)
	for _, name := range names {
		a := cfg.Mailman[name].Audit
		lists := "every list"
		if len(a.Include) > 0 {
			lists = "lists matching " + strings.Join(a.Include, " ")
		}
		if len(a.Exclude) > 0 {
			lists += " except " + strings.Join(a.Exclude, " ")
		}
		fmt.Fprintf(w, "mailman %s: audit: %s (at most %d), without posting\n", name, lists, a.MaxLists)
		fmt.Fprintf(w, "  load: at most %g REST requests/s (%g/min); a round is ceil(lists on the server/100) + %d per audited list; "+
			"rounds start every max(%s, requests/%g s), e.g. %s for 1,000 lists\n",
			a.MaxRequestsPerSecond, a.MaxRequestsPerSecond*60, config.AuditRequestsPerList, time.Duration(a.Refresh),
			a.MaxRequestsPerSecond, a.Interval(1000, 1000))
		if b := a.Baseline; b != nil {
			var checks []string
			for _, d := range a.Checks("") {
				checks = append(checks, d.Setting+" in "+d.Want)
			}
			except := ""
			if len(b.Except) > 0 {
				except = " except lists matching " + strings.Join(b.Except, " ")
			}
			fmt.Fprintf(w, "  baseline: %s%s; ListAuditDrift alerts on any other value\n", strings.Join(checks, ", "), except)
		} else {
			fmt.Fprintf(w, "  baseline: none (settings exported, no drift series)\n")
		}
	}
}
