package testbed

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/listprobe/listprobe/checks/mailmanrest"
)

// HyperKittyURL returns the testbed's HyperKitty (deploy/testbed/hyperkitty.sh),
// the root of its URLs (http://127.0.0.1:8010/hyperkitty/), after checking
// that its API answers. Without LISTPROBE_TESTBED_HYPERKITTY_URL (an up.sh
// of a branch without hyperkitty.sh) the test skips, or fails under CI=true;
// a HyperKitty that the env file names but that does not answer fails it.
func (e Env) HyperKittyURL(t testing.TB) string {
	t.Helper()
	u := e[Prefix+"HYPERKITTY_URL"]
	if u == "" {
		Missing(t, "CI=true but ", "", "the testbed runs no HyperKitty (LISTPROBE_TESTBED_HYPERKITTY_URL; run deploy/testbed/up.sh)")
	}
	if err := hyperKittyAnswers(u); err != nil {
		t.Fatalf("the testbed's HyperKitty at %s does not answer: %v", u, err)
	}
	return u
}

func hyperKittyAnswers(u string) error {
	c := &http.Client{Timeout: 10 * time.Second}
	resp, err := c.Get(u + "api/lists/")
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %sapi/lists/: HTTP %d", u, resp.StatusCode)
	}
	return nil
}

// HyperKittyCtl runs the testbed's hyperkitty.sh (stop, start, restart
// [--key-file FILE]) as root; the fault tests stop HyperKitty or restart it
// with a wrong archiver key with it, and put it back with "restart".
func (e Env) HyperKittyCtl(t testing.TB, args ...string) {
	t.Helper()
	NeedRoot(t)
	ctl := e.Get(t, "HYPERKITTY_CTL")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if out, err := exec.CommandContext(ctx, ctl, args...).CombinedOutput(); err != nil {
		t.Fatalf("%s %v: %v\n%s", filepath.Base(ctl), args, err, out)
	}
}

// SetArchiver turns one of Mailman's archivers ("hyperkitty") on or off for
// one list (the list's archivers resource): with it off, the list's posts
// are delivered and not archived, as when a list's archiver is stopped, and
// the other lists archive as before.
func (c *MailmanAdmin) SetArchiver(ctx context.Context, list, archiver string, on bool) error {
	id, err := mailmanrest.ListID(list)
	if err != nil {
		return err
	}
	return c.do(ctx, http.MethodPatch, url.Values{archiver: {strconv.FormatBool(on)}}, nil, "lists", id, "archivers")
}
