package dashboardtest

import (
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

// membership is what listprobe exports for one probe account's membership
// of a list: its role, whether it is subscribed, and the current delivery
// status and mode ("" when Mailman did not say: no info series).
type membership struct {
	list, role   string
	subscribed   bool
	status, mode string
	problem      int // the problem code the table must show
}

// membershipCases are the states the demo cannot show (its sandbox serves
// no delivery status and unsubscribes nobody), one list each, with the
// problem code of "Probe accounts' memberships": 0 ok, 1 reader on
// digests, 2 reader's delivery disabled, 3 by bounces, 4 reader not
// subscribed, 5 poster not subscribed.
var membershipCases = []membership{
	{list: "ok@lists.example.org", role: "poster", subscribed: true, status: "by_user", mode: "regular", problem: 0},
	{list: "ok@lists.example.org", role: "reader", subscribed: true, status: "enabled", mode: "regular", problem: 0},
	{list: "bounces@lists.example.org", role: "poster", subscribed: true, status: "by_bounces", mode: "mime_digests", problem: 0},
	{list: "bounces@lists.example.org", role: "reader", subscribed: true, status: "by_bounces", mode: "regular", problem: 3},
	{list: "byuser@lists.example.org", role: "poster", subscribed: true, status: "enabled", mode: "regular", problem: 0},
	{list: "byuser@lists.example.org", role: "reader", subscribed: true, status: "by_user", mode: "regular", problem: 2},
	{list: "bymoderator@lists.example.org", role: "poster", subscribed: true, status: "enabled", mode: "regular", problem: 0},
	{list: "bymoderator@lists.example.org", role: "reader", subscribed: true, status: "by_moderator", mode: "regular", problem: 2},
	{list: "unknown@lists.example.org", role: "poster", subscribed: true, status: "enabled", mode: "regular", problem: 0},
	{list: "unknown@lists.example.org", role: "reader", subscribed: true, status: "unknown", mode: "regular", problem: 2},
	{list: "digests@lists.example.org", role: "poster", subscribed: true, status: "enabled", mode: "regular", problem: 0},
	{list: "digests@lists.example.org", role: "reader", subscribed: true, status: "enabled", mode: "plaintext_digests", problem: 1},
	{list: "worst@lists.example.org", role: "poster", subscribed: true, status: "enabled", mode: "regular", problem: 0},
	{list: "worst@lists.example.org", role: "reader", subscribed: true, status: "by_bounces", mode: "summary_digests", problem: 3},
	{list: "noreader@lists.example.org", role: "poster", subscribed: true, status: "enabled", mode: "regular", problem: 0},
	{list: "noreader@lists.example.org", role: "reader", problem: 4},
	{list: "noposter@lists.example.org", role: "poster", problem: 5},
	{list: "noposter@lists.example.org", role: "reader", subscribed: true, status: "enabled", mode: "regular", problem: 0},
	{list: "silent@lists.example.org", role: "poster", subscribed: true, mode: "regular", problem: 0},
	{list: "silent@lists.example.org", role: "reader", subscribed: true, mode: "regular", problem: 0},
}

// TestMembershipProblemsWithPromtool evaluates the queries of "Probe
// accounts' memberships" and its timeline with Prometheus' own engine
// (promtool test rules) over series shaped as listprobe exports them, for
// every problem the table must make stand out.
func TestMembershipProblemsWithPromtool(t *testing.T) {
	promtool, err := exec.LookPath("promtool")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("CI=true but promtool is missing: apt-get install prometheus")
		}
		t.Skip("no promtool (apt-get install prometheus)")
	}
	queries, err := Queries()
	if err != nil {
		t.Fatal(err)
	}
	const panel = "Probe accounts' memberships"
	problem := dashboardQuery(t, queries, panel, "A")
	timeline := dashboardQuery(t, queries, "Probe accounts' membership problems over time", "A")
	if timeline.Expr != problem.Expr {
		t.Errorf("the timeline's query differs from the table's problem column:\n%s\n%s", timeline.Expr, problem.Expr)
	}
	status := dashboardQuery(t, queries, panel, "C")
	mode := dashboardQuery(t, queries, panel, "D")

	input, wantProblem, wantStatus, wantMode := membershipSeries()
	doc := struct {
		RuleFiles          []string           `yaml:"rule_files"`
		EvaluationInterval string             `yaml:"evaluation_interval"`
		Tests              []promtoolUnitTest `yaml:"tests"`
	}{RuleFiles: []string{}, EvaluationInterval: "1m", Tests: []promtoolUnitTest{{Interval: "1m", InputSeries: input, Exprs: []promtoolExprTest{
		{Expr: problem.PromQL(Variables{}), EvalTime: "2m", ExpSamples: wantProblem},
		{Expr: status.PromQL(Variables{}), EvalTime: "2m", ExpSamples: wantStatus},
		{Expr: mode.PromQL(Variables{}), EvalTime: "2m", ExpSamples: wantMode},
	}}}}
	raw, err := yaml.Marshal(doc)
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), "memberships_test.yml")
	if err := os.WriteFile(file, raw, 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(promtool, "test", "rules", file).CombinedOutput()
	if err != nil {
		t.Errorf("promtool test rules: %v\n%s", err, out)
	}
}

// The parts of a promtool rule unit test file that the membership test
// writes.
type promtoolSample struct {
	Labels string  `yaml:"labels"`
	Value  float64 `yaml:"value"`
}
type promtoolExprTest struct {
	Expr       string           `yaml:"expr"`
	EvalTime   string           `yaml:"eval_time"`
	ExpSamples []promtoolSample `yaml:"exp_samples"`
}
type promtoolSeries struct {
	Series string `yaml:"series"`
	Values string `yaml:"values"`
}
type promtoolUnitTest struct {
	Interval    string             `yaml:"interval"`
	InputSeries []promtoolSeries   `yaml:"input_series"`
	Exprs       []promtoolExprTest `yaml:"promql_expr_test"`
}

// membershipSeries returns the series of membershipCases as listprobe
// exports them, and the samples the table's problem, status and mode
// queries must give.
func membershipSeries() (input []promtoolSeries, wantProblem, wantStatus, wantMode []promtoolSample) {
	add := func(name string, labels map[string]string, v bool) {
		keys := make([]string, 0, len(labels))
		for k := range labels {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		var parts []string
		for _, k := range keys {
			parts = append(parts, fmt.Sprintf("%s=%q", k, labels[k]))
		}
		values := "0x5"
		if v {
			values = "1x5"
		}
		input = append(input, promtoolSeries{Series: name + "{" + strings.Join(parts, ", ") + "}", Values: values})
	}
	for _, m := range membershipCases {
		base := map[string]string{"job": "listprobe", "instance": "127.0.0.1:9171", "list": m.list, "role": m.role}
		with := func(k, v string) map[string]string {
			out := map[string]string{k: v}
			for bk, bv := range base {
				out[bk] = bv
			}
			return out
		}
		add("listprobe_mailman_member_subscribed", base, m.subscribed)
		// Info series: only the current status and mode, none when
		// Mailman reports none.
		if m.status != "" {
			add("listprobe_mailman_member_delivery_status_info", with("status", m.status), true)
		}
		if m.mode != "" {
			add("listprobe_mailman_member_delivery_mode_info", with("mode", m.mode), true)
		}
		key := fmt.Sprintf("list=%q, role=%q", m.list, m.role)
		wantProblem = append(wantProblem, promtoolSample{"{" + key + "}", float64(m.problem)})
		column := func(label, state string) promtoolSample {
			if state == "" {
				return promtoolSample{fmt.Sprintf("{%s, %s=\"not reported\"}", key, label), 0}
			}
			return promtoolSample{fmt.Sprintf("{%s, %s=%q}", key, label, state), 1}
		}
		wantStatus = append(wantStatus, column("status", m.status))
		wantMode = append(wantMode, column("mode", m.mode))
	}
	return input, wantProblem, wantStatus, wantMode
}

// Every problem code the queries produce has its text in the table's
// Problem column and in the timeline, and the two say the same.
func TestMembershipProblemCodesHaveText(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join(RepoRoot, "dashboards", "list-health.json"))
	if err != nil {
		t.Fatal(err)
	}
	table, timeline := membershipProblemTexts(t, raw)
	codes := map[int]bool{}
	for _, m := range membershipCases {
		codes[m.problem] = true
	}
	for code := range codes {
		k := strconv.Itoa(code)
		if table[k] == "" {
			t.Errorf("the Problem column has no text for code %d: %v", code, table)
		}
	}
	if len(table) != len(codes) || !maps.Equal(table, timeline) {
		t.Errorf("problem texts: table %v, timeline %v, codes %v", table, timeline, codes)
	}
}

type valueMappings []struct {
	Type    string `json:"type"`
	Options map[string]struct {
		Text string `json:"text"`
	} `json:"options"`
}
type panelFieldConfig struct {
	Defaults struct {
		Mappings valueMappings `json:"mappings"`
	} `json:"defaults"`
	Overrides []struct {
		Matcher struct {
			ID      string `json:"id"`
			Options string `json:"options"`
		} `json:"matcher"`
		Properties []struct {
			ID    string          `json:"id"`
			Value json.RawMessage `json:"value"`
		} `json:"properties"`
	} `json:"overrides"`
}

// membershipProblemTexts returns the texts of the problem codes in the
// membership table's Problem column and in the timeline.
func membershipProblemTexts(t *testing.T, raw []byte) (table, timeline map[string]string) {
	t.Helper()
	var d struct {
		Panels []struct {
			Title string `json:"title"`
			// Decoded only for the two panels: others map ranges.
			FieldConfig json.RawMessage `json:"fieldConfig"`
		} `json:"panels"`
	}
	if err := json.Unmarshal(raw, &d); err != nil {
		t.Fatal(err)
	}
	texts := func(ms valueMappings) map[string]string {
		out := map[string]string{}
		for _, m := range ms {
			for v, o := range m.Options {
				out[v] = o.Text
			}
		}
		return out
	}
	for _, p := range d.Panels {
		var fc panelFieldConfig
		switch p.Title {
		case "Probe accounts' memberships", "Probe accounts' membership problems over time":
			if err := json.Unmarshal(p.FieldConfig, &fc); err != nil {
				t.Fatalf("%s: %v", p.Title, err)
			}
		}
		switch p.Title {
		case "Probe accounts' memberships":
			for _, o := range fc.Overrides {
				if o.Matcher.ID != "byName" || o.Matcher.Options != "Problem" {
					continue
				}
				for _, prop := range o.Properties {
					if prop.ID == "mappings" {
						var ms valueMappings
						if err := json.Unmarshal(prop.Value, &ms); err != nil {
							t.Fatal(err)
						}
						table = texts(ms)
					}
				}
			}
		case "Probe accounts' membership problems over time":
			timeline = texts(fc.Defaults.Mappings)
		}
	}
	return table, timeline
}
