package web

import (
	"fmt"
	"strings"

	"github.com/listprobe/listprobe/probe"
	"github.com/listprobe/listprobe/probe/config"
)

// This file lays out what the page says of each of a list's readers (a
// list may have several, readers:): why a list has no probe yet, and each
// reader's membership.

// noProbeYet says why a list has no result yet: its readers' sessions
// (each one, not only the first), and whether that is a failure (one is
// down: a probe would be error).
func noProbeYet(l *config.ListConfig, sessions map[string]sessionView) (string, bool) {
	var down, waiting []string
	since := ""
	for _, name := range l.ReaderAccounts() {
		r, ok := sessions[name]
		switch {
		case !ok || r.Up:
		case r.State == "down":
			down = append(down, r.Address)
			if since == "" && r.Since != "" {
				since = " since " + r.Since
			}
		default:
			waiting = append(waiting, fmt.Sprintf("%s %s", r.Address, r.State))
		}
	}
	switch {
	case len(down) > 0:
		return fmt.Sprintf("reader %s %s down%s", plural(len(down), "mailbox", "mailboxes"), strings.Join(down, ", "), since), true
	case len(waiting) > 0:
		return fmt.Sprintf("no probe yet: reader %s %s", plural(len(waiting), "mailbox", "mailboxes"), strings.Join(waiting, ", ")), false
	}
	return "no probe yet", false
}

// readersExplained lays out each reader's membership: the first reader's
// is MailmanState.Reader when Mailman's answer has no per-reader list.
func readersExplained(l *config.ListConfig, cfg *config.Config, st probe.MailmanState) []memberView {
	readers := l.ReaderAccounts()
	if len(st.Readers) == 0 {
		if len(readers) == 0 {
			return nil
		}
		return []memberView{memberExplained("reader", accountAddress(cfg, readers[0]), st.Reader, true)}
	}
	out := make([]memberView, 0, len(st.Readers))
	for _, r := range st.Readers {
		out = append(out, memberExplained("reader", accountAddress(cfg, r.Account), r.MemberState, true))
	}
	return out
}

// junkView says how a reader's Junk folder is watched: "up (Junk)", "no
// Junk folder" (the server has none: a copy filed as spam is not seen),
// "down: why", "connecting". bad: its copies in Junk are not seen.
func junkView(cfg *config.Config, js probe.FolderState) (string, bool) {
	switch {
	case js.Up:
		return fmt.Sprintf("up (%s)", js.Folder), false
	case js.Missing:
		return "no Junk folder: copies filed as spam are not seen", true
	case js.Err != nil:
		return "down: " + redact(cfg, readable(js.Err.Error())), true
	}
	return "connecting", false
}
