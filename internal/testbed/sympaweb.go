package testbed

import (
	"context"
	"fmt"
	"html"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// SympaWebURL returns the URL of the testbed's Sympa web interface
// (deploy/testbed/sympa-web.sh: wwsympa.fcgi under lighttpd,
// http://127.0.0.1:8020/wws), after checking that it answers. Without
// LISTPROBE_TESTBED_SYMPA_WEB_URL (an up.sh of a branch without
// sympa-web.sh) the test skips, or fails under CI=true; a web interface that
// the env file names but that does not answer fails it.
func (e Env) SympaWebURL(t testing.TB) string {
	t.Helper()
	u := e[Prefix+"SYMPA_WEB_URL"]
	if u == "" {
		Missing(t, "CI=true but ", "", "the testbed runs no Sympa web interface (LISTPROBE_TESTBED_SYMPA_WEB_URL; run deploy/testbed/up.sh)")
	}
	c := &http.Client{Timeout: 30 * time.Second}
	resp, err := c.Get(u + "/lists")
	if err == nil {
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			err = fmt.Errorf("HTTP %d", resp.StatusCode)
		}
	}
	if err != nil {
		t.Fatalf("the testbed's Sympa web interface at %s does not answer: %v", u, err)
	}
	return u
}

// SympaWebCtl runs the testbed's sympa-web.sh as root: "stop", "start",
// "archived stop", "archived start" (Sympa's archive daemon alone).
func (e Env) SympaWebCtl(t testing.TB, args ...string) {
	t.Helper()
	NeedRoot(t)
	ctl := e.Get(t, "SYMPA_WEB_CTL")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if out, err := exec.CommandContext(ctx, ctl, args...).CombinedOutput(); err != nil {
		t.Fatalf("%s %v: %v\n%s", filepath.Base(ctl), args, err, out)
	}
}

// mhonarcID is the Message-ID comment MHonArc writes at the top of each
// archived post's page, HTML-escaped.
var mhonarcID = regexp.MustCompile(`(?m)^<!--X-Message-Id: (.*) -->$`)

// InSympaArchive reports whether Sympa's archive of list (name@domain)
// holds a post with messageID, read from Sympa's archive directory
// (LISTPROBE_TESTBED_SYMPA_ARCHIVE_DIR/<list>/<yyyy-mm>/msg*.html), not
// through its web interface: the tests' second opinion.
func (e Env) InSympaArchive(t testing.TB, list, messageID string) bool {
	t.Helper()
	id := strings.Trim(strings.TrimSpace(messageID), "<>")
	pages, err := filepath.Glob(filepath.Join(e.Get(t, "SYMPA_ARCHIVE_DIR"), list, "*", "msg*.html"))
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range pages {
		data, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		if m := mhonarcID.FindSubmatch(data); m != nil && html.UnescapeString(string(m[1])) == id {
			return true
		}
	}
	return false
}
