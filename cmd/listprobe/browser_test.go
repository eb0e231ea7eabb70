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
	"strings"
	"sync"
	"testing"
	"time"
)

// chromiumArgs start Debian's Chromium headless without any network of its
// own: no background networking, sync or component updates.
var chromiumArgs = []string{"--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
	"--disable-background-networking", "--disable-component-update", "--disable-sync", "--hide-scrollbars"}

// TestStatusPageInBrowser loads the status page of `listprobe demo` in a real
// headless Chromium: the holding list must show as held with Mailman's
// reason. It saves a screenshot; with LISTPROBE_SCREENSHOT_DIR set, there
// (the README's docs/status-page.png is made this way).
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
		run(ctx, []string{"demo", fmt.Sprintf("--web.listen-address=127.0.0.1:%d", port), "--demo.schedule=@every 10s", "--demo.timeout=4s", "--log.level=error"}, io.Discard, io.Discard)
	}()
	defer func() { cancel(); wg.Wait() }()

	// Wait until every demo list has an outcome (the blackhole list needs
	// its timeout to pass).
	deadline := time.Now().Add(60 * time.Second)
	for {
		resp, err := http.Get(base + "metrics")
		if err == nil {
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if strings.Count(string(b), "listprobe_last_reason_info{") == 5 {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatal("the demo lists never all got an outcome")
		}
		time.Sleep(200 * time.Millisecond)
	}

	profile := t.TempDir()
	browse := func(extra ...string) []byte {
		args := append(append(append([]string{}, chromiumArgs...), "--user-data-dir="+profile), extra...)
		cmdCtx, cmdCancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cmdCancel()
		out, err := exec.CommandContext(cmdCtx, browser, append(args, base)...).Output()
		if err != nil {
			t.Fatalf("chromium %v: %v", extra, err)
		}
		return out
	}
	dom := string(browse("--dump-dom"))
	row := rowOf(dom, "moderated@lists.example.org")
	if !strings.Contains(row, ">held<") || !strings.Contains(row, "The message comes from a moderated member") {
		t.Errorf("the holding list's row does not show held with its reason:\n%s", row)
	}
	if row := rowOf(dom, "healthy@lists.example.org"); !strings.Contains(row, ">delivered<") {
		t.Errorf("the healthy list's row does not show delivered:\n%s", row)
	}

	dir := os.Getenv("LISTPROBE_SCREENSHOT_DIR")
	if dir == "" {
		dir = t.TempDir()
	}
	shot, err := filepath.Abs(filepath.Join(dir, "status-page.png"))
	if err != nil {
		t.Fatal(err)
	}
	browse("--window-size=1200,720", "--screenshot="+shot)
	data, err := os.ReadFile(shot)
	if err != nil {
		t.Fatal(err)
	}
	img, err := png.Decode(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	if b := img.Bounds(); b.Dx() != 1200 || b.Dy() != 720 {
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
}

// rowOf returns the table row of the status page that names list.
func rowOf(dom, list string) string {
	i := strings.Index(dom, "<strong>"+list+"</strong>")
	if i < 0 {
		return ""
	}
	start := strings.LastIndex(dom[:i], "<tr>")
	end := strings.Index(dom[i:], "</tr>")
	if start < 0 || end < 0 {
		return ""
	}
	return dom[start : i+end]
}
