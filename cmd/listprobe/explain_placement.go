package main

import (
	"fmt"
	"io"
	"path/filepath"
	"strings"

	"github.com/listprobe/listprobe/probe"
)

// junkFolderNames are the folder names by which explain knows a saved
// message was in a Junk folder: Dovecot's and most clients' Junk and
// Spam, as a directory of the path (Maildir's .Junk/cur/..., mbox Junk).
var junkFolderNames = []string{"junk", ".junk", "spam", ".spam", "junk e-mail", "junk email"}

// placementOf says where a saved message was, from its path: Junk when a
// directory of the path (or an mbox file) is a Junk or Spam folder; ""
// when the path says nothing (standard input, a file elsewhere), and the
// message is judged as if in INBOX.
func placementOf(file string) probe.Placement {
	if file == "-" || file == "" {
		return ""
	}
	for _, part := range strings.Split(filepath.ToSlash(filepath.Clean(file)), "/") {
		for _, name := range junkFolderNames {
			if strings.EqualFold(part, name) {
				return probe.PlacementJunk
			}
		}
	}
	return ""
}

// writePlacement prints the placement and the spam filter's verdict on
// explain's text line.
func writePlacement(w io.Writer, e explained) {
	if e.Placement != "" {
		fmt.Fprintf(w, " placement=%s", e.Placement)
	}
	if e.FilterVerdict != "" {
		fmt.Fprintf(w, " filter=%q", e.FilterVerdict)
	}
}
