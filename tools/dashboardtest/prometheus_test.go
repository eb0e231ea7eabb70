package dashboardtest

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestQueriesAgainstRealPrometheus runs `listprobe demo`, lets Debian's
// Prometheus scrape it (with the alert rules loaded), and evaluates every
// dashboard query through the Prometheus HTTP API: each must parse and
// return data. It also checks that the demo's holding list shows as failing
// and its healthy list as passing.
func TestQueriesAgainstRealPrometheus(t *testing.T) {
	if testing.Short() {
		t.Skip("starts listprobe demo and Prometheus; not in -short")
	}
	promBin, err := exec.LookPath("prometheus")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("CI=true but the prometheus binary is missing: apt-get install prometheus")
		}
		t.Skip("no prometheus binary (apt-get install prometheus)")
	}
	dir := t.TempDir()
	bin := filepath.Join(dir, "listprobe")
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Fatalf("the go command is needed to build listprobe: %v", err)
	}
	build := exec.Command(goBin, "build", "-o", bin, "./cmd/listprobe")
	build.Dir = RepoRoot
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	lpAddr := freeAddr(t)
	promAddr := freeAddr(t)
	startProcess(t, filepath.Join(dir, "listprobe.log"), bin, "demo", "--web.listen-address="+lpAddr,
		"--demo.schedule=@every 5s", "--demo.timeout=3s", "--log.level=warn")
	rules, err := filepath.Abs(filepath.Join(RepoRoot, "deploy/prometheus/alerts.yml"))
	if err != nil {
		t.Fatal(err)
	}
	promConfig := fmt.Sprintf(`global:
  scrape_interval: 1s
  evaluation_interval: 1s
rule_files: [%q]
scrape_configs:
  - job_name: listprobe
    static_configs:
      - targets: [%q]
`, rules, lpAddr)
	if err := os.WriteFile(filepath.Join(dir, "prometheus.yml"), []byte(promConfig), 0o600); err != nil {
		t.Fatal(err)
	}
	startProcess(t, filepath.Join(dir, "prometheus.log"), promBin,
		"--config.file="+filepath.Join(dir, "prometheus.yml"),
		"--storage.tsdb.path="+filepath.Join(dir, "data"),
		"--web.listen-address="+promAddr)

	api := &promAPI{base: "http://" + promAddr}
	// Wait until every demo list has finished a few probes, and long
	// enough for the rate windows below to hold several scrapes.
	start := time.Now()
	deadline := start.Add(2 * time.Minute)
	for {
		res, err := api.query(`count(sum by (list) (listprobe_probes_total) >= 3)`)
		if err == nil && len(res) == 1 && res[0].Value[1] == "5" && time.Since(start) > 25*time.Second {
			break
		}
		if time.Now().After(deadline) {
			logs, _ := os.ReadFile(filepath.Join(dir, "listprobe.log"))
			t.Fatalf("demo lists never reached 3 probes each (last: %v %v)\nlistprobe log:\n%s", res, err, logs)
		}
		time.Sleep(time.Second)
	}

	queries, err := Queries()
	if err != nil {
		t.Fatal(err)
	}
	if len(queries) == 0 {
		t.Fatal("no dashboard queries")
	}
	vars := Variables{Range: 5 * time.Minute, Interval: 2 * time.Second, RateInterval: 20 * time.Second}
	for _, q := range queries {
		expr := q.PromQL(vars)
		res, err := api.query(expr)
		if err != nil {
			t.Errorf("%s / %s %s: %q: %v", q.Dashboard, q.Panel, q.RefID, expr, err)
			continue
		}
		if len(res) == 0 {
			t.Errorf("%s / %s %s: %q returned no data", q.Dashboard, q.Panel, q.RefID, expr)
		}
	}

	for list, want := range map[string]string{"healthy@lists.example.org": "1", "moderated@lists.example.org": "0"} {
		res, err := api.query(fmt.Sprintf(`listprobe_probe_success{list=%q}`, list))
		if err != nil || len(res) != 1 || res[0].Value[1] != want {
			t.Errorf("%s: listprobe_probe_success = %v (%v), want %s", list, res, err, want)
		}
	}
	res, err := api.query(`listprobe_last_outcome{list="moderated@lists.example.org",outcome="held"}`)
	if err != nil || len(res) != 1 || res[0].Value[1] != "1" {
		t.Errorf("the holding demo list's last outcome is not held: %v %v", res, err)
	}
}

type promSample struct {
	Metric map[string]string `json:"metric"`
	Value  [2]any            `json:"value"`
}

type promAPI struct{ base string }

// query evaluates expr at the current time; it returns the result as vector
// samples (a scalar becomes one sample) with values as strings.
func (p *promAPI) query(expr string) ([]promSample, error) {
	resp, err := http.Get(p.base + "/api/v1/query?query=" + url.QueryEscape(expr))
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	var doc struct {
		Status string `json:"status"`
		Error  string `json:"error"`
		Data   struct {
			ResultType string          `json:"resultType"`
			Result     json.RawMessage `json:"result"`
		} `json:"data"`
	}
	if err := json.Unmarshal(body, &doc); err != nil {
		return nil, fmt.Errorf("%s: %s", resp.Status, body)
	}
	if doc.Status != "success" {
		return nil, fmt.Errorf("%s", doc.Error)
	}
	switch doc.Data.ResultType {
	case "vector":
		var out []promSample
		err := json.Unmarshal(doc.Data.Result, &out)
		return out, err
	case "scalar":
		var v [2]any
		err := json.Unmarshal(doc.Data.Result, &v)
		return []promSample{{Value: v}}, err
	}
	return nil, fmt.Errorf("unexpected result type %s", doc.Data.ResultType)
}

func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return "127.0.0.1:" + strconv.Itoa(l.Addr().(*net.TCPAddr).Port)
}

// startProcess runs a command with its output in logFile until the test ends.
func startProcess(t *testing.T, logFile, name string, args ...string) {
	t.Helper()
	log, err := os.Create(logFile)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Stdout, cmd.Stderr = log, log
	cmd.Cancel = func() error { return cmd.Process.Signal(os.Interrupt) }
	cmd.WaitDelay = 10 * time.Second
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cancel()
		cmd.Wait()
		log.Close()
		if t.Failed() {
			out, _ := os.ReadFile(logFile)
			t.Logf("%s output:\n%s", filepath.Base(name), strings.TrimSpace(string(out)))
		}
	})
}
