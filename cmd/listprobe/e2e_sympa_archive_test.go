package main

import (
	"context"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/listprobe/listprobe/internal/testbed"
)

// sympaArchiveConfig writes a config for a Sympa list of the testbed, with
// archive: { kind: sympa, url: <the testbed's WWSympa> }.
func sympaArchiveConfig(t *testing.T, tb testbed.Env, list, web string, timeout time.Duration) string {
	t.Helper()
	file := managerConfig(t, tb, list, "MEMBER", "READER", "MODERATOR", 60*time.Second)
	f, err := os.OpenFile(file, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := fmt.Fprintf(f, "    archive: { kind: sympa, url: %q, timeout: %s }\n", web, timeout); err != nil {
		t.Fatal(err)
	}
	return file
}

// A real Sympa 6.2.70 with its archive daemon (archived.pl) and its web
// interface (deploy/testbed/sympa-web.sh): a delivered probe is found in
// the list's web archive by its Message-ID (through Sympa's "I am not a
// spammer" confirmation) and its latency recorded. On a list whose
// archiving is off (Sympa's process_archive off: as when the list's
// archiving stops; no other list is touched) it is archive_lost, and
// delivered all the same. Sympa's archive directory agrees both times. The
// fault suite (TestFaultSympaArchiverStopped) stops the archive daemon.
func TestE2ESympaArchive(t *testing.T) {
	tb := testbed.Load(t)
	web := tb.SympaWebURL(t)
	for _, archiving := range []bool{true, false} {
		want := "archived"
		if !archiving {
			want = "archive_lost"
		}
		t.Run(want, func(t *testing.T) {
			t.Parallel()
			list := tb.NewSympaList(t)
			if !archiving {
				if err := tb.SympaSet(context.Background(), list, "process_archive", "off"); err != nil {
					t.Fatal(err)
				}
			}
			r := onceArchive(t, sympaArchiveConfig(t, tb, list, web, 20*time.Second), 20*time.Second, want)
			if !strings.Contains(r.Archive.Reason, "Sympa's archive "+web+"/arcsearch_id/"+strings.Split(list, "@")[0]+"/") {
				t.Errorf("reason %q does not say where listprobe looked", r.Archive.Reason)
			}
			if got := tb.InSympaArchive(t, list, r.MessageID); got != archiving {
				t.Fatalf("Sympa's archive directory has %s: %v, want %v", r.MessageID, got, archiving)
			}
		})
	}
}
