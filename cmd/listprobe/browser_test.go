package main

import (
	"bytes"
	"context"
	"fmt"
	"image/png"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/listprobe/listprobe/internal/sandbox"
)

// The demo's schedule and timeout for the screenshot: short, so that every
// list has its probes within seconds. The README's caption says them
// (TestScreenshotCaptionSaysItsTimeout).
const (
	screenshotSchedule = "@every 5s"
	screenshotTimeout  = "4s"
)

// demoFailing are the demo's failing lists as the status page lists them,
// first: lost, rejected, junk (a reader's Junk folder), held. The other
// two (healthy, slow) deliver.
var demoFailing = []string{sandbox.DemoBlackhole, sandbox.DemoClosed, sandbox.DemoJunk, sandbox.DemoModerated}

// chromiumArgs start Debian's Chromium headless without any network of its
// own: no background networking, sync or component updates.
var chromiumArgs = []string{"--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
	"--disable-background-networking", "--disable-component-update", "--disable-sync", "--hide-scrollbars"}

// TestStatusPageInBrowser loads the status page of `listprobe demo` in a real
// headless Chromium: the holding list must show as held with Mailman's
// reason and the setting that holds it, every list a latency chart with one
// mark per probe, and the mailbox sessions. It saves a screenshot; with
// LISTPROBE_SCREENSHOT_DIR set, there (the README's docs/status-page.png is
// made this way: LISTPROBE_SCREENSHOT_DIR=$PWD/docs go test -run
// TestStatusPageInBrowser ./cmd/listprobe).
func TestStatusPageInBrowser(t *testing.T) {
	browser, err := exec.LookPath("chromium")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("CI=true but chromium is missing: apt-get install chromium")
		}
		t.Skip("no chromium (apt-get install chromium)")
	}
	port, err := freeLoopbackPort()
	if err != nil {
		t.Fatal(err)
	}
	base := fmt.Sprintf("http://127.0.0.1:%d/", port)
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		run(ctx, []string{"demo", fmt.Sprintf("--web.listen-address=127.0.0.1:%d", port), "--demo.schedule=" + screenshotSchedule, "--demo.timeout=" + screenshotTimeout, "--log.level=error"}, io.Discard, io.Discard)
	}()
	defer func() { cancel(); wg.Wait() }()

	waitForDemoOutcomes(t, base)

	profile := t.TempDir()
	browseURL := func(url string, extra ...string) []byte {
		args := append(append(append([]string{}, chromiumArgs...), "--user-data-dir="+profile), extra...)
		cmdCtx, cmdCancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cmdCancel()
		out, err := exec.CommandContext(cmdCtx, browser, append(args, url)...).Output()
		if err != nil {
			t.Fatalf("chromium %v: %v", extra, err)
		}
		return out
	}
	browse := func(extra ...string) []byte { return browseURL(base, extra...) }
	dom := string(browse("--dump-dom"))
	checkListRows(t, dom)
	checkCharts(t, dom)
	checkProbePageAndSessions(t, dom, base, browseURL)
	checkPagesAndFilter(t, dom, base, browseURL)

	checkScreenshot(t, browse)
}

// waitForDemoOutcomes waits until every demo list has had three probes (the
// blackhole list needs its timeout to pass each time), so that the charts
// have a line to draw, and its Mailman settings were read.
func waitForDemoOutcomes(t *testing.T, base string) {
	t.Helper()
	deadline := time.Now().Add(90 * time.Second)
	for {
		resp, err := http.Get(base + "metrics")
		if err == nil {
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			probes := map[string]int{}
			for _, m := range probesTotal.FindAllSubmatch(b, -1) {
				n, _ := strconv.Atoi(string(m[2]))
				probes[string(m[1])] += n
			}
			lists := len(sandbox.DemoOptions().Lists)
			enough := len(probes) == lists
			for _, n := range probes {
				enough = enough && n >= 3
			}
			if enough && len(mailmanUp.FindAllIndex(b, -1)) == lists {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatal("the demo lists never all got three outcomes and their Mailman settings")
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// checkListRows checks the lists' rows: outcomes with their reasons, and
// the Mailman settings and memberships that explain a failing list.
func checkListRows(t *testing.T, dom string) {
	t.Helper()
	row := rowOf(dom, "moderated@lists.example.org")
	if !strings.Contains(row, ">held<") || !strings.Contains(row, "The message comes from a moderated member") {
		t.Errorf("the holding list's row does not show held with its reason:\n%s", row)
	}
	if row := rowOf(dom, "healthy@lists.example.org"); !strings.Contains(row, ">delivered<") {
		t.Errorf("the healthy list's row does not show delivered:\n%s", row)
	}
	// Two readers: the row says which one saw what.
	if row := rowOf(dom, sandbox.DemoJunk); !strings.Contains(row, ">junk<") || !strings.Contains(row, "reader: delivered") || !strings.Contains(row, "reader2: junk") {
		t.Errorf("the two-reader list's row does not show junk and each reader's outcome:\n%s", row)
	}
	// Each reader's membership, the second's too.
	if why := whyOf(dom, sandbox.DemoJunk); !strings.Contains(why, "The reader reader@example.org:") || !strings.Contains(why, "The reader reader2@example.org:") {
		t.Errorf("the two-reader list does not show both readers' memberships:\n%s", why)
	}
	// Why it is held: Mailman's default member action, marked as the cause.
	why := whyOf(dom, "moderated@lists.example.org")
	if !strings.Contains(why, "Mailman settings (demo), seen with these values since") ||
		!strings.Contains(why, `default member action</span> <span class="value bad">hold</span>`) {
		t.Errorf("the holding list does not show the setting that holds it:\n%s", why)
	}
	// And the probe accounts' membership, as Mailman reports it.
	for _, want := range []string{"The poster member@example.org:", "The reader reader@example.org:", `delivery</span> <span class="value">regular</span>`} {
		if !strings.Contains(why, want) {
			t.Errorf("the holding list's explanation lacks %q:\n%s", want, why)
		}
	}
	if why := whyOf(dom, "closed@lists.example.org"); !strings.Contains(why, `<span class="value bad">reject</span>`) {
		t.Errorf("the rejecting list does not show the setting that rejects:\n%s", why)
	}
	if why := whyOf(dom, "healthy@lists.example.org"); why != "" {
		t.Errorf("the healthy list has an explanation:\n%s", why)
	}
}

// checkCharts checks each list's chart: one mark per probe, as many as its
// pills of recent outcomes; dots for deliveries, bands for failures.
func checkCharts(t *testing.T, dom string) {
	t.Helper()
	// Each list's chart: one mark per probe, as many as its pills of recent
	// outcomes; dots for deliveries, bands for failures.
	for _, tc := range []struct {
		list          string
		dots, failure bool
	}{
		{"healthy@lists.example.org", true, false},
		{"slow@lists.example.org", true, false},
		{"moderated@lists.example.org", false, true},
		{"blackhole@lists.example.org", false, true},
		{"closed@lists.example.org", false, true},
		{sandbox.DemoJunk, false, true},
	} {
		row := rowOf(dom, tc.list)
		svg := between(row, "<svg", "</svg>")
		m := dataProbes.FindStringSubmatch(svg)
		if m == nil {
			t.Errorf("%s: no latency chart:\n%s", tc.list, row)
			continue
		}
		probes, _ := strconv.Atoi(m[1])
		dots, bands := chartMarks(svg, "dot", "ok"), chartMarks(svg, "band", "bad")
		pills := strings.Count(row, `class="pill `)
		if probes < 1 || dots+bands != probes || pills != probes {
			t.Errorf("%s: chart of %d probes has %d dots and %d failure bands; the row has %d outcomes", tc.list, probes, dots, bands, pills)
		}
		if (dots > 0) != tc.dots || (bands > 0) != tc.failure {
			t.Errorf("%s: %d dots, %d failure bands", tc.list, dots, bands)
		}
		if !strings.Contains(svg, "<title>Latency of the last ") || !strings.Contains(svg, `class="x-last"`) {
			t.Errorf("%s: the chart has no title or time axis:\n%s", tc.list, svg)
		}
	}
	if svg := between(rowOf(dom, "slow@lists.example.org"), "<svg", "</svg>"); !strings.Contains(svg, `text-anchor="end">5 s</text>`) {
		t.Errorf("the slow list's chart (3 s) is not scaled to 5 s:\n%s", svg)
	}
}

// checkPagesAndFilter checks that the failing lists come first, that the
// pages (two lists a page here: the demo has six) show every list once,
// following the Next links the browser sees, and that the filter by
// outcome and by list name or domain selects what it says, as its form
// submits it.
func checkPagesAndFilter(t *testing.T, dom, base string, browseURL func(url string, extra ...string) []byte) {
	t.Helper()
	rows := demoRows.FindAllStringSubmatch(dom, -1)
	var order []string
	for _, m := range rows {
		order = append(order, m[1])
	}
	lists := len(sandbox.DemoOptions().Lists)
	if len(order) != lists || strings.Join(order[:len(demoFailing)], " ") != strings.Join(demoFailing, " ") {
		t.Errorf("lists in the order %v, want the %d failing ones first: %v", order, len(demoFailing), demoFailing)
	}
	if !strings.Contains(dom, `<form class="filter" method="get" action="./">`) || !strings.Contains(dom, `<option value="held">held (1)</option>`) {
		t.Errorf("no filter form with the outcomes' counts:\n%s", between(dom, `<form`, `</form>`))
	}
	seen := map[string]int{}
	url := base + "?per=2"
	for page := 1; ; page++ {
		p := string(browseURL(url, "--dump-dom"))
		for _, m := range demoRows.FindAllStringSubmatch(p, -1) {
			seen[m[1]]++
		}
		if page == 1 && !strings.Contains(p, fmt.Sprintf("Lists 1–2 of %d, failing first.", lists)) {
			t.Errorf("page 1 of 2 lists does not say which lists it shows:\n%s", between(p, `<p class="pages`, "</p>"))
		}
		next := nextLink.FindStringSubmatch(p)
		if next == nil || page == lists {
			break
		}
		url = base + strings.ReplaceAll(next[1], "&amp;", "&")
	}
	if len(seen) != lists {
		t.Errorf("the pages of 2 lists show %v, want each of the %d lists once", seen, lists)
	}
	for l, n := range seen {
		if n != 1 {
			t.Errorf("%s on %d pages", l, n)
		}
	}
	for query, want := range map[string]string{
		"?outcome=held&q=":               "moderated@lists.example.org",
		"?q=HEALTHY":                     "healthy@lists.example.org",
		"?outcome=delivered&q=slow@list": "slow@lists.example.org",
	} {
		p := string(browseURL(base+query, "--dump-dom"))
		if got := demoRows.FindAllStringSubmatch(p, -1); len(got) != 1 || got[0][1] != want {
			t.Errorf("%s shows %v, want %s only", query, got, want)
		}
	}
}

var (
	demoRows = regexp.MustCompile(`<a class="list" href="[^"]*"><strong>([^<]+)</strong>`)
	nextLink = regexp.MustCompile(`<a rel="next" href="\./([^"]*)">`)
)

// checkProbePageAndSessions checks the healthy list's last probe page (its
// copy's hops) and the mailbox sessions' states.
func checkProbePageAndSessions(t *testing.T, dom, base string, browseURL func(url string, extra ...string) []byte) {
	t.Helper()
	// The healthy list's last probe: its copy's hops, with their resolution.
	if m := resultLink.FindStringSubmatch(rowOf(dom, "healthy@lists.example.org")); m == nil {
		t.Error("the healthy list's row links to no probe")
	} else {
		probe := string(browseURL(base+"result?id="+m[1], "--dump-dom"))
		hops := between(probe, `<table class="hops">`, "</table>")
		if strings.Count(hops, "<tr>") < 2 || !strings.Contains(hops, "ESMTP") || !strings.Contains(probe, "resolution of one second") {
			t.Errorf("the probe's page shows no hops:\n%s", probe)
		}
	}
	// Every mailbox session, with its state.
	boxes := between(dom, `<table class="mailboxes">`, "</table>")
	for _, account := range []string{"member", "reader", "moderator", "reader2"} {
		if !strings.Contains(boxes, "<td>"+account+"</td>") {
			t.Errorf("no session state of the %s mailbox:\n%s", account, boxes)
		}
	}
	if !strings.Contains(boxes, "<td>reader2</td><td>reader2@example.org</td><td>reader of 1 list</td>") {
		t.Errorf("the second reader's session does not say it reads a list:\n%s", boxes)
	}
	// The readers' Junk folders are watched; the others' are not.
	if n := strings.Count(boxes, `<span class="ok junk">up (Junk)</span>`); n != 2 {
		t.Errorf("%d Junk folder sessions up, want the two readers':\n%s", n, boxes)
	}
	if strings.Count(boxes, `<span class="ok">up</span>`) != 4 {
		t.Errorf("the mailbox sessions are not all up:\n%s", boxes)
	}
}

// checkScreenshot takes a screenshot of the page and checks that the
// browser drew it: many colours, and the failure bands' colour.
func checkScreenshot(t *testing.T, browse func(extra ...string) []byte) {
	t.Helper()
	dir := os.Getenv("LISTPROBE_SCREENSHOT_DIR")
	if dir == "" {
		dir = t.TempDir()
	}
	shot, err := filepath.Abs(filepath.Join(dir, "status-page.png"))
	if err != nil {
		t.Fatal(err)
	}
	browse("--window-size=1200,1200", "--screenshot="+shot)
	data, err := os.ReadFile(shot)
	if err != nil {
		t.Fatal(err)
	}
	img, err := png.Decode(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	if b := img.Bounds(); b.Dx() != 1200 || b.Dy() != 1200 {
		t.Errorf("screenshot is %v", b)
	}
	// A page with text and coloured outcomes has many colours; a blank or
	// error page has few.
	colours := map[uint32]bool{}
	for y := 0; y < img.Bounds().Dy(); y += 3 {
		for x := 0; x < img.Bounds().Dx(); x += 3 {
			r, g, b, _ := img.At(x, y).RGBA()
			colours[r>>8<<16|g>>8<<8|b>>8] = true
		}
	}
	if len(colours) < 20 {
		t.Errorf("screenshot has only %d colours: blank page?", len(colours))
	}
	// The browser drew the charts: the failure bands' colour (#b00020 at
	// 40 % over white) fills three lists' charts.
	band := 0
	for y := 0; y < img.Bounds().Dy(); y++ {
		for x := 0; x < img.Bounds().Dx(); x++ {
			r, g, b, _ := img.At(x, y).RGBA()
			if near(r>>8, 223) && near(g>>8, 153) && near(b>>8, 166) {
				band++
			}
		}
	}
	if band < 3*1500 {
		t.Errorf("only %d pixels of the failure bands' colour: charts not drawn?", band)
	}
}

var (
	mailmanUp   = regexp.MustCompile(`(?m)^listprobe_mailman_up\{[^}]*\} 1$`)
	probesTotal = regexp.MustCompile(`(?m)^listprobe_probes_total\{list="([^"]+)",outcome="[^"]+"\} (\d+)$`)
	dataProbes  = regexp.MustCompile(`data-probes="(\d+)"`)
	resultLink  = regexp.MustCompile(`href="result\?id=([a-z0-9]+)"`)
)

// chartMarks returns how many marks of a kind and class a chart draws, as
// its path says and as the path's subpaths count them.
func chartMarks(svg, kind, class string) int {
	m := regexp.MustCompile(`<path class="` + kind + " " + class + `" data-marks="(\d+)" d="([^"]*)"`).FindStringSubmatch(svg)
	if m == nil {
		return 0
	}
	n, _ := strconv.Atoi(m[1])
	if strings.Count(m[2], "M") != n {
		return -1
	}
	return n
}

func near(v, want uint32) bool { return v+3 >= want && v <= want+3 }

// whyOf returns the explanation row the status page shows under a list, or
// "" if it has none.
func whyOf(dom, list string) string {
	return between(dom, `<tr class="why" data-list="`+list+`">`, "</tr>")
}

// between returns s from the first start to the next end, or "".
func between(s, start, end string) string {
	i := strings.Index(s, start)
	if i < 0 {
		return ""
	}
	j := strings.Index(s[i:], end)
	if j < 0 {
		return ""
	}
	return s[i : i+j]
}

// rowOf returns the table row of the status page that names list.
func rowOf(dom, list string) string {
	i := strings.Index(dom, "<strong>"+list+"</strong>")
	if i < 0 {
		return ""
	}
	start := strings.LastIndex(dom[:i], "<tr")
	end := strings.Index(dom[i:], "</tr>")
	if start < 0 || end < 0 {
		return ""
	}
	return dom[start : i+end]
}
