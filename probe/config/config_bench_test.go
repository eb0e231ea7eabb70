package config

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// manyListsConfig returns a config of n lists in dir, the shape of a large
// site: a few accounts, most lists on the global schedule, some with their
// own.
func manyListsConfig(tb testing.TB, n int) (string, []byte) {
	tb.Helper()
	dir := tb.TempDir()
	for _, f := range []string{"signing.key", "member.password", "reader.password"} {
		data, err := os.ReadFile(filepath.Join("testdata", f))
		if err != nil {
			tb.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, f), data, 0o600); err != nil {
			tb.Fatal(err)
		}
	}
	var b strings.Builder
	b.WriteString(`global:
  schedule: "*/5 * * * *"
  timeout: 4m
  signing_key_file: signing.key
accounts:
  member:
    address: probe@example.org
    smtp: { address: "smtp.example.org:587", tls: starttls, auth: plain, username: probe@example.org, password_file: member.password }
  reader:
    address: reader@example.org
    imap: { address: "imap.example.org:993", username: reader@example.org, password_file: reader.password }
lists:
`)
	schedules := []string{"", "", "", `"0 * * * *"`, `"*/10 * * * *"`, `"@every 15m"`}
	for i := range n {
		fmt.Fprintf(&b, "  - address: list-%d@lists.example.org\n    poster: member\n    reader: reader\n", i)
		if s := schedules[i%len(schedules)]; s != "" {
			fmt.Fprintf(&b, "    schedule: %s\n", s)
		}
	}
	return filepath.Join(dir, "listprobe.yml"), []byte(b.String())
}

func benchmarkLoad(b *testing.B, n int) {
	file, data := manyListsConfig(b, n)
	for b.Loop() {
		cfg, err := Load(file, data, nil)
		if err != nil {
			b.Fatal(err)
		}
		if len(cfg.Lists) != n {
			b.Fatalf("%d lists loaded, want %d", len(cfg.Lists), n)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Microseconds())/float64(b.N*n), "µs/list")
}

// BenchmarkLoad1000 and BenchmarkLoad10000 measure what check-config and
// every reload cost for a large site; 10,000 lists should cost at most 12
// times 1,000 (linear) and well under a second.
func BenchmarkLoad1000(b *testing.B)  { benchmarkLoad(b, 1000) }
func BenchmarkLoad10000(b *testing.B) { benchmarkLoad(b, 10000) }
