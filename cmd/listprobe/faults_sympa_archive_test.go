//go:build faults

package main

// Sympa's archive daemon (archived.pl) archives every Sympa list of the
// testbed: stopping it stops every list's archiving, so this test is in the
// fault suite, which runs alone (go test -tags faults -p 1 -run TestFault).

import (
	"testing"
	"time"

	"github.com/listprobe/listprobe/internal/testbed"
)

// With Sympa's archive daemon stopped, a probe is delivered and its archive
// check ends archive_lost; the post waits in Sympa's archive spool. Started
// again, the daemon archives the waiting post late, and the next probe is
// archived.
func TestFaultSympaArchiverStopped(t *testing.T) {
	tb := testbed.Load(t)
	testbed.NeedRoot(t)
	web := tb.SympaWebURL(t)
	// Whatever happens, the archive daemon runs afterwards.
	t.Cleanup(func() { tb.SympaWebCtl(t, "archived", "start") })
	list := tb.NewSympaList(t)
	file := sympaArchiveConfig(t, tb, list, web, 15*time.Second)

	tb.SympaWebCtl(t, "archived", "stop")
	lost := onceArchive(t, file, 15*time.Second, "archive_lost")
	if tb.InSympaArchive(t, list, lost.MessageID) {
		t.Fatalf("Sympa archived %s with its archive daemon stopped", lost.MessageID)
	}

	tb.SympaWebCtl(t, "archived", "start")
	waitUntil(t, 60*time.Second, "the waiting post archived once archived.pl runs again", func() bool {
		return tb.InSympaArchive(t, list, lost.MessageID)
	})
	onceArchive(t, file, 30*time.Second, "archived")
}
