package testbed

import (
	"context"
	"os/exec"
	"strings"
	"testing"

	"github.com/listprobe/listprobe/checks/mailmanrest"
)

// mailmanDB is the testbed Mailman's SQLite database (Debian's path, as
// up.sh puts it in WAL mode).
const mailmanDB = "/var/lib/mailman3/data/mailman.db"

// A list CreateList made already has one archiver row per archiver Mailman
// knows, so that no two runners add them at once on its first post (which
// left two "mhonarc" rows, and Mailman then shunted every post to the
// list: "Multiple rows were found when one or none was required").
func TestCreatedListHasItsArchiversBeforeTheFirstPost(t *testing.T) {
	e := Load(t)
	NeedRoot(t) // the database belongs to Mailman's user
	list := e.NewMailmanList(t)
	id, err := mailmanrest.ListID(list)
	if err != nil {
		t.Fatal(err)
	}
	rows := func(query string) string {
		t.Helper()
		out, err := exec.CommandContext(context.Background(), "sqlite3", "-readonly", "-cmd", ".timeout 30000",
			mailmanDB, query).CombinedOutput()
		if err != nil {
			t.Fatalf("sqlite3 %s: %v: %s", mailmanDB, err, out)
		}
		return strings.TrimSpace(string(out))
	}
	// id is a list id (letters, digits, dots and dashes): no quoting needed.
	got := rows("SELECT a.name, count(*) FROM listarchiver a JOIN mailinglist m ON a.mailing_list_id = m.id" +
		" WHERE m.list_id = '" + id + "' GROUP BY a.name ORDER BY a.name;")
	// Debian's Mailman knows mhonarc, mail-archive and prototype; a
	// testbed may add others. Each must be there, once.
	lines := strings.Split(got, "\n")
	if got == "" || len(lines) < 3 {
		t.Fatalf("archiver rows of %s right after CreateList (name|count): %q, want a row for each archiver Mailman knows", list, got)
	}
	for _, l := range lines {
		if !strings.HasSuffix(l, "|1") {
			t.Errorf("archiver rows of %s (name|count): %q: want each archiver once", list, got)
		}
	}
}
