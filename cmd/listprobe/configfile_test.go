package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// checkConfigRun runs check-config on file and returns its exit code and
// stderr; it fails the test if check-config takes longer than a few
// seconds, which a bounded read never does.
func checkConfigRun(t *testing.T, file string) (int, string) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	done := make(chan int, 1)
	go func() {
		done <- run(context.Background(), []string{"check-config", "--config.file=" + file}, &stdout, &stderr)
	}()
	select {
	case code := <-done:
		return code, stderr.String()
	case <-time.After(20 * time.Second):
		t.Fatalf("check-config --config.file=%s still reading after 20s", file)
		return 0, ""
	}
}

// A config file named by mistake as a device or a FIFO fails at once with a
// clear error, as a secret file does, instead of reading without end.
func TestCheckConfigRefusesWhatIsNotARegularFile(t *testing.T) {
	fifo := filepath.Join(t.TempDir(), "config.fifo")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	for _, file := range []string{"/dev/zero", "/dev/urandom", fifo, t.TempDir()} {
		code, stderr := checkConfigRun(t, file)
		if code != exitUsage || !strings.Contains(stderr, "not a regular file") || !strings.Contains(stderr, file) {
			t.Errorf("check-config %s: exit %d, stderr %q; want exit %d naming the file as not a regular file", file, code, stderr, exitUsage)
		}
	}
}

// A config file larger than any real one is refused without being read
// whole.
func TestCheckConfigRefusesAHugeFile(t *testing.T) {
	file := filepath.Join(t.TempDir(), "huge.yml")
	f, err := os.Create(file)
	if err != nil {
		t.Fatal(err)
	}
	// A 50 MB schedule value: the file is refused before a byte of it is
	// echoed.
	if _, err := f.WriteString("global:\n  schedule: \"" + strings.Repeat("5", 50<<20) + "\"\n"); err != nil {
		t.Fatal(err)
	}
	f.Close()
	code, stderr := checkConfigRun(t, file)
	if code != exitUsage || !strings.Contains(stderr, "larger than") || len(stderr) > 1024 {
		t.Errorf("check-config of a 50 MB file: exit %d, stderr %q; want exit %d saying it is too large", code, stderr, exitUsage)
	}
}

// Config errors quote values and keys cut: a 2 MB schedule, a 64 KB key and
// a 256 KB list address with control characters each give a short error that
// still names the field.
func TestConfigErrorsCutWhatTheyEcho(t *testing.T) {
	dir := t.TempDir()
	huge := strings.Repeat("5", 2<<20)
	key := strings.Repeat("k", 64<<10)
	addr := strings.Repeat("a\x1b[2J", 1<<16) + "@lists.example.org"
	cfg := "global:\n  schedule: \"" + huge + "\"\n  ? " + key + "\n  : 1\nlists:\n  - address: \"" + strings.ReplaceAll(addr, "\x1b", `\e`) + "\"\n    poster: nobody\n    reader: nobody\n"
	file := filepath.Join(dir, "listprobe.yml")
	if err := os.WriteFile(file, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	code, stderr := checkConfigRun(t, file)
	if code != exitUsage {
		t.Fatalf("exit %d, want %d", code, exitUsage)
	}
	if len(stderr) > 32<<10 {
		t.Errorf("check-config wrote %d bytes of errors: it echoes the values", len(stderr))
	}
	if strings.Contains(stderr, "\x1b") {
		t.Error("check-config echoed an escape sequence from the file")
	}
	for _, field := range []string{"global.schedule", "lists[0].address"} {
		if !strings.Contains(stderr, field) {
			t.Errorf("the errors do not name %s:\n%.2000s", field, stderr)
		}
	}
}

// A file with thousands of bad entries gets a bounded report: the
// first errors and a count of the rest.
func TestConfigErrorsAreCountedBeyondAFew(t *testing.T) {
	var b strings.Builder
	b.WriteString("lists:\n")
	for i := range 5000 {
		fmt.Fprintf(&b, "  - {address: \"bad %d\", poster: x, reader: y}\n", i)
	}
	file := filepath.Join(t.TempDir(), "listprobe.yml")
	if err := os.WriteFile(file, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	code, stderr := checkConfigRun(t, file)
	if code != exitUsage || len(stderr) > 64<<10 || !strings.Contains(stderr, "more errors not shown") {
		t.Errorf("exit %d, %d bytes of errors ending %q; want a bounded report with a count", code, len(stderr), stderr[max(0, len(stderr)-300):])
	}
}
