package dashboardtest

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/listprobe/listprobe/tools/internal/proc"
)

// TestQueriesAgainstRealPrometheus runs `listprobe demo`, lets Debian's
// Prometheus scrape it (with the alert rules loaded), and evaluates every
// dashboard query through the Prometheus HTTP API: each must parse and
// return data. It also checks that the demo's holding list shows as failing
// and its healthy list as passing, that the hops panel shows the healthy
// list's copy and nothing for the list that drops every post, and, after
// putting two probe accounts on digests over the sandbox's Mailman REST
// API, what each column of the memberships table says for every list and
// role (the states the sandbox cannot produce are in
// TestMembershipProblemsWithPromtool).
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
	promAddr := startDemoAndPrometheus(t, promBin, dir)

	api := &promAPI{base: "http://" + promAddr}
	// Wait until every demo list has finished a few probes, and long
	// enough for the rate windows below to hold several scrapes.
	start := time.Now()
	deadline := start.Add(2 * time.Minute)
	for {
		res, err := api.query(`count(sum by (list) (listprobe_probes_total) >= 3)`)
		if err == nil && len(res) == 1 && res[0].Value[1] == fmt.Sprint(len(demoLists)) && time.Since(start) > 25*time.Second {
			break
		}
		if time.Now().After(deadline) {
			logs, _ := os.ReadFile(filepath.Join(dir, "listprobe.log"))
			t.Fatalf("demo lists never reached 3 probes each (last: %v %v)\nlistprobe log:\n%s", res, err, logs)
		}
		time.Sleep(time.Second)
	}
	// The demo reads Mailman every 10 s: wait for the digest modes.
	for {
		res, err := api.query(`listprobe_mailman_member_delivery_mode_info{mode=~".+_digests"} == 1`)
		if err == nil && len(res) == 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the digest modes set over Mailman REST never showed in the metrics: %v %v", res, err)
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

	checkJunkSessions(t, api)
	checkMembershipPanels(t, api, queries, vars)
	checkHopPanel(t, api, queries, vars)
	checkAuthenticationPanel(t, api, queries, vars)
}

// checkJunkSessions checks that the demo's two readers' Junk folder
// sessions are up, and that no one else has one.
func checkJunkSessions(t *testing.T, api *promAPI) {
	t.Helper()
	if res, err := api.query(`listprobe_mailbox_junk_up == 1`); err != nil || len(res) != 2 {
		t.Errorf("listprobe_mailbox_junk_up == 1: %v (%v), want the demo's two readers", res, err)
	}
	if res, err := api.query(`count(listprobe_mailbox_junk_up)`); err != nil || len(res) != 1 || res[0].Value[1] != "2" {
		t.Errorf("count(listprobe_mailbox_junk_up): %v (%v), want 2", res, err)
	}
}

// startDemoAndPrometheus builds listprobe and starts `listprobe demo`,
// with two probe accounts put on digests, and a Prometheus that scrapes it
// every second with the shipped alert rules, both logging into dir; it
// returns Prometheus' address.
func startDemoAndPrometheus(t *testing.T, promBin, dir string) string {
	t.Helper()
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
	lpAddr := proc.FreeAddr(t)
	promAddr := proc.FreeAddr(t)
	lpLog := filepath.Join(dir, "listprobe.log")
	proc.Start(t, lpLog, bin, "demo", "--web.listen-address="+lpAddr,
		"--demo.schedule=@every 5s", "--demo.timeout=3s", "--log.level=warn")
	// Give the membership panels something to tell apart: the reader of
	// the blackhole list goes on digests (it loses every probe anyway), and
	// the poster of the closed list too, which must not count as a
	// problem: a poster's own delivery does not matter.
	mm := demoMailman(t, lpLog)
	mm.setDeliveryMode(t, "blackhole@lists.example.org", "reader@example.org", "mime_digests")
	mm.setDeliveryMode(t, "closed@lists.example.org", "member@example.org", "summary_digests")
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
	proc.Start(t, filepath.Join(dir, "prometheus.log"), promBin,
		"--config.file="+filepath.Join(dir, "prometheus.yml"),
		"--storage.tsdb.path="+filepath.Join(dir, "data"),
		"--web.listen-address="+promAddr)
	return promAddr
}

// demoLists are the lists `listprobe demo` probes.
var demoLists = []string{"healthy@lists.example.org", "moderated@lists.example.org", "slow@lists.example.org",
	"blackhole@lists.example.org", "closed@lists.example.org", "junk@lists.example.org"}

// checkMembershipPanels checks what the memberships table shows for the
// demo, where the blackhole list's reader and the closed list's poster are
// on digests: one row per list and role, the reader on digests flagged as
// the only problem, and each column's value.
func checkMembershipPanels(t *testing.T, api *promAPI, queries []Query, vars Variables) {
	t.Helper()
	const panel = "Probe accounts' memberships"
	type row struct{ list, role string }
	rows := func(refID, label string) map[row]string {
		t.Helper()
		q := dashboardQuery(t, queries, panel, refID)
		res, err := api.query(q.PromQL(vars))
		if err != nil {
			t.Fatalf("%s %s: %v", panel, refID, err)
		}
		out := map[row]string{}
		for _, s := range res {
			r := row{s.Metric["list"], s.Metric["role"]}
			if _, dup := out[r]; dup {
				t.Errorf("%s %s: two rows for %s %s: %v", panel, refID, r.role, r.list, res)
			}
			if label == "" {
				out[r] = fmt.Sprint(s.Value[1])
			} else {
				out[r] = s.Metric[label]
			}
		}
		return out
	}
	problem, subscribed, status, mode := rows("A", ""), rows("B", ""), rows("C", "status"), rows("D", "mode")
	for _, list := range demoLists {
		for _, role := range []string{"poster", "reader"} {
			r := row{list, role}
			wantProblem, wantMode := "0", "regular"
			switch r {
			case row{"blackhole@lists.example.org", "reader"}:
				wantProblem, wantMode = "1", "mime_digests" // "reader on digests"
			case row{"closed@lists.example.org", "poster"}:
				wantMode = "summary_digests"
			}
			if got := problem[r]; got != wantProblem {
				t.Errorf("%s: problem code of %s on %s = %q, want %s", panel, role, list, got, wantProblem)
			}
			if got := subscribed[r]; got != "1" {
				t.Errorf("%s: %s on %s subscribed = %q, want 1", panel, role, list, got)
			}
			if got := mode[r]; got != wantMode {
				t.Errorf("%s: delivery mode of %s on %s = %q, want %s", panel, role, list, got, wantMode)
			}
			// The sandbox serves no member preferences, where Mailman
			// keeps delivery_status: the state set is all 0 and the
			// table says so rather than showing nothing.
			if got := status[r]; got != "not reported" && got != "enabled" {
				t.Errorf("%s: delivery status of %s on %s = %q, want not reported (or enabled)", panel, role, list, got)
			}
		}
	}
	for name, m := range map[string]map[row]string{"problem": problem, "subscribed": subscribed, "status": status, "mode": mode} {
		if len(m) != 2*len(demoLists) {
			t.Errorf("%s: %d %s rows, want %d: %v", panel, len(m), name, 2*len(demoLists), m)
		}
	}
}

// checkHopPanel checks that the hops panel shows the copies the demo
// delivers, and nothing for the list that drops every post.
func checkHopPanel(t *testing.T, api *promAPI, queries []Query, vars Variables) {
	t.Helper()
	const panel = "Where the time goes: hops of the last copy"
	q := dashboardQuery(t, queries, panel, "A")
	res, err := api.query(q.PromQL(vars))
	if err != nil {
		t.Fatalf("%s: %v", panel, err)
	}
	hops := map[string][]string{}
	for _, s := range res {
		hops[s.Metric["list"]] = append(hops[s.Metric["list"]], s.Metric["hop"])
	}
	if len(hops["healthy@lists.example.org"]) == 0 {
		t.Errorf("%s: no hop of the healthy list's last copy: %v", panel, res)
	}
	if h := hops["blackhole@lists.example.org"]; len(h) > 0 {
		t.Errorf("%s: hops %v for the blackhole list, which never delivers", panel, h)
	}
}

// checkAuthenticationPanel checks that the deliverability row shows the
// healthy list's last copy with each of the six checks one of the four
// values the panels map (the demo's copies are unsigned and its DNS is a
// closed port: dkim none, dmarc unknown), nothing for the list that drops
// every post, and the timeline's numbers for the same verdict.
func checkAuthenticationPanel(t *testing.T, api *promAPI, queries []Query, vars Variables) {
	t.Helper()
	const panel = "Authentication of the last copy"
	q := dashboardQuery(t, queries, panel, "A")
	res, err := api.query(q.PromQL(vars))
	if err != nil {
		t.Fatalf("%s: %v", panel, err)
	}
	rows := map[string]map[string]string{}
	for _, s := range res {
		rows[s.Metric["list"]] = s.Metric
	}
	healthy := rows["healthy@lists.example.org"]
	numbers := map[string]string{"pass": "1", "fail": "0", "none": "-1", "unknown": "-2"}
	for _, c := range []string{"dkim", "spf", "dmarc", "arc", "list_id", "one_click_unsubscribe"} {
		if _, ok := numbers[healthy[c]]; !ok {
			t.Errorf("%s: %s of the healthy list's last copy = %q, want pass, fail, none or unknown", panel, c, healthy[c])
		}
	}
	if healthy["dkim"] != "none" || healthy["dmarc"] != "unknown" || healthy["list_id"] != "pass" {
		t.Errorf("%s: the healthy list's unsigned copy: %v, want dkim none, dmarc unknown (no DNS), list_id pass", panel, healthy)
	}
	if r, ok := rows["blackhole@lists.example.org"]; ok {
		t.Errorf("%s: %v for the blackhole list, which never delivers", panel, r)
	}
	const timeline = "DMARC and one-click unsubscribe over time"
	for refID, check := range map[string]string{"A": "dmarc", "B": "one_click_unsubscribe"} {
		res, err := api.query(dashboardQuery(t, queries, timeline, refID).PromQL(vars))
		if err != nil {
			t.Fatalf("%s %s: %v", timeline, refID, err)
		}
		for _, s := range res {
			if s.Metric["list"] == "healthy@lists.example.org" && (s.Metric["check"] != check || fmt.Sprint(s.Value[1]) != numbers[healthy[check]]) {
				t.Errorf("%s %s: %v = %v, want %s for %s", timeline, refID, s.Metric, s.Value[1], numbers[healthy[check]], healthy[check])
			}
		}
		if len(res) == 0 || len(res) > len(demoLists) {
			t.Errorf("%s %s: %d series, want one per delivering list", timeline, refID, len(res))
		}
	}
}

// dashboardQuery returns the query refID of the panel titled panel.
func dashboardQuery(t *testing.T, queries []Query, panel, refID string) Query {
	t.Helper()
	for _, q := range queries {
		if q.Panel == panel && q.RefID == refID {
			return q
		}
	}
	t.Fatalf("no query %s in panel %q", refID, panel)
	return Query{}
}

// demoREST is the Mailman REST API of a running `listprobe demo`'s sandbox.
type demoREST struct{ url, username, password string }

// demoMailman finds the sandbox's REST API in the configuration the demo
// wrote (its path is in the demo's first line of output).
func demoMailman(t *testing.T, logFile string) *demoREST {
	t.Helper()
	configLine := regexp.MustCompile(`; config (\S+)`)
	deadline := time.Now().Add(30 * time.Second)
	var config string
	for config == "" {
		out, _ := os.ReadFile(logFile)
		if m := configLine.FindSubmatch(out); m != nil {
			config = string(m[1])
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("listprobe demo never said where its config is:\n%s", out)
		}
		time.Sleep(100 * time.Millisecond)
	}
	raw, err := os.ReadFile(config)
	if err != nil {
		t.Fatalf("the demo's config: %v", err)
	}
	var doc struct {
		Mailman map[string]struct {
			URL          string `yaml:"url"`
			Username     string `yaml:"username"`
			PasswordFile string `yaml:"password_file"`
		} `yaml:"mailman"`
	}
	if err := yaml.Unmarshal(raw, &doc); err != nil {
		t.Fatalf("the demo's config %s: %v", config, err)
	}
	mm, ok := doc.Mailman["demo"]
	if !ok || mm.URL == "" {
		t.Fatalf("the demo's config %s has no mailman demo entry:\n%s", config, raw)
	}
	pw, err := os.ReadFile(mm.PasswordFile)
	if err != nil {
		t.Fatalf("the demo's Mailman password: %v", err)
	}
	return &demoREST{url: mm.URL, username: mm.Username, password: strings.TrimSpace(string(pw))}
}

// setDeliveryMode PATCHes the delivery_mode of address's membership of list.
func (m *demoREST) setDeliveryMode(t *testing.T, list, address, mode string) {
	t.Helper()
	body := strings.NewReader(url.Values{"delivery_mode": {mode}}.Encode())
	req, err := http.NewRequest(http.MethodPatch, m.url+"/lists/"+url.PathEscape(list)+"/member/"+url.PathEscape(address), body)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(m.username, m.password)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("PATCH delivery_mode of %s on %s: %v", address, list, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusNoContent {
		out, _ := io.ReadAll(resp.Body)
		t.Fatalf("PATCH delivery_mode of %s on %s: %s: %s", address, list, resp.Status, out)
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
