package dashboardtest

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/grafana/grafana-foundation-sdk/go/cog"
	"github.com/grafana/grafana-foundation-sdk/go/cog/plugins"
	"github.com/grafana/grafana-foundation-sdk/go/common"
	"github.com/grafana/grafana-foundation-sdk/go/dashboard"
	"github.com/grafana/grafana-foundation-sdk/go/prometheus"
	"github.com/prometheus/prometheus/promql/parser"
	"go.yaml.in/yaml/v3"
)

// schemaVersion is the Grafana dashboard schema the files are written for
// (Grafana 12.0). Pinned so that Grafana does not migrate them on load.
const schemaVersion = 41

// datasourceUID is what every panel and target must name: the dashboard's
// datasource variable, so the user picks the Prometheus to read.
const datasourceUID = "${datasource}"

type metricType int

const (
	counter metricType = iota
	gauge
	histogram
)

// exportedMetrics lists the metric families listprobe exports (the README's
// Metrics table). It is the one place the dashboard tests know them; the
// test against a real Prometheus scraping `listprobe demo` catches a name
// here that the binary does not export.
func exportedMetrics() map[string]metricType {
	return map[string]metricType{
		"listprobe_probes_total":                                 counter,
		"listprobe_probe_success":                                gauge,
		"listprobe_last_outcome":                                 gauge,
		"listprobe_delivery_latency_seconds":                     histogram,
		"listprobe_submit_duration_seconds":                      histogram,
		"listprobe_last_probe_timestamp_seconds":                 gauge,
		"listprobe_last_delivered_timestamp_seconds":             gauge,
		"listprobe_late_deliveries_total":                        counter,
		"listprobe_forged_messages_total":                        counter,
		"listprobe_mailbox_up":                                   gauge,
		"listprobe_mailbox_junk_up":                              gauge,
		"listprobe_config_last_reload_successful":                gauge,
		"listprobe_build_info":                                   gauge,
		"listprobe_probe_expected":                               gauge,
		"listprobe_last_reason_info":                             gauge,
		"listprobe_config_last_reload_success_timestamp_seconds": gauge,
		"listprobe_mailman_up":                                   gauge,
		"listprobe_mailman_held_messages":                        gauge,
		"listprobe_mailman_default_member_action_info":           gauge,
		"listprobe_mailman_default_nonmember_action_info":        gauge,
		"listprobe_mailman_member_moderation_action_info":        gauge,
		"listprobe_mailman_emergency":                            gauge,
		"listprobe_notice_limit_reached_timestamp_seconds":       gauge,
		"listprobe_last_hop_seconds":                             gauge,
		"listprobe_mailman_member_subscribed":                    gauge,
		"listprobe_mailman_member_delivery_status_info":          gauge,
		"listprobe_mailman_member_delivery_mode_info":            gauge,
		"listprobe_copy_authentication_info":                     gauge,
		"listprobe_reader_last_outcome_info":                     gauge,
		"listprobe_reader_last_latency_seconds":                  gauge,
	}
}

// exportedSeriesNames turns metric families into the series names a query
// can select: a histogram family exports NAME_bucket, NAME_sum, NAME_count.
func exportedSeriesNames() map[string]bool {
	names := map[string]bool{}
	for name, typ := range exportedMetrics() {
		if typ == histogram {
			for _, suffix := range []string{"_bucket", "_sum", "_count"} {
				names[name+suffix] = true
			}
			continue
		}
		names[name] = true
	}
	return names
}

func dashboardFiles(t *testing.T) map[string][]byte {
	t.Helper()
	names, err := fs.Glob(FS(), "*.json")
	if err != nil {
		t.Fatal(err)
	}
	if len(names) == 0 {
		t.Fatal("no dashboard in dashboards/")
	}
	out := map[string][]byte{}
	for _, name := range names {
		raw, err := fs.ReadFile(FS(), name)
		if err != nil {
			t.Fatal(err)
		}
		out[name] = raw
	}
	return out
}

// strictErr turns the result of a foundation SDK UnmarshalJSONStrict into a
// plain error. Those functions return their error list as a cog.BuildErrors
// even when it is empty, so success is a non-nil error holding a nil slice.
func strictErr(err error) error {
	var buildErrs cog.BuildErrors
	if errors.As(err, &buildErrs) && len(buildErrs) == 0 {
		return nil
	}
	return err
}

// decodeDashboardStrictly decodes raw with the foundation SDK's strict
// decoder: unknown fields, missing required fields and wrong types are
// errors, in panel options and Prometheus targets too (plugins registered).
//
// The SDK (v0.0.22) trips on its own typed-nil error: a panel, a target or
// panel options that decode without error are dropped from the result
// (PanelOrRowPanel and the variant unmarshalers test err != nil). Errors
// still propagate, so the whole-dashboard decode is the validation, and
// strictPanels decodes panels and targets one by one to look at them.
func decodeDashboardStrictly(t *testing.T, name string, raw []byte) *dashboard.Dashboard {
	t.Helper()
	plugins.RegisterDefaultPlugins()
	var d dashboard.Dashboard
	if err := strictErr(d.UnmarshalJSONStrict(raw)); err != nil {
		t.Fatalf("%s: strict decode: %v", name, err)
	}
	return &d
}

// decodedPanel is a panel decoded strictly, with its targets.
type decodedPanel struct {
	panel   *dashboard.Panel
	targets []*prometheus.Dataquery
}

// strictPanels decodes every panel of a dashboard strictly, one at a time,
// rows' nested panels included; rows are returned apart.
func strictPanels(t *testing.T, name string, raw []byte) (panels []decodedPanel, rows []*dashboard.RowPanel) {
	t.Helper()
	plugins.RegisterDefaultPlugins()
	var top struct {
		Panels []json.RawMessage `json:"panels"`
	}
	if err := json.Unmarshal(raw, &top); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	var walk func(raws []json.RawMessage)
	walk = func(raws []json.RawMessage) {
		for i, rawPanel := range raws {
			var head struct {
				Type    string            `json:"type"`
				Panels  []json.RawMessage `json:"panels"`
				Targets []json.RawMessage `json:"targets"`
			}
			if err := json.Unmarshal(rawPanel, &head); err != nil {
				t.Fatalf("%s: panel %d: %v", name, i, err)
			}
			if head.Type == "row" {
				var r dashboard.RowPanel
				if err := strictErr(r.UnmarshalJSONStrict(rawPanel)); err != nil {
					t.Fatalf("%s: row %d: %v", name, i, err)
				}
				rows = append(rows, &r)
				walk(head.Panels)
				continue
			}
			var p dashboard.Panel
			if err := strictErr(p.UnmarshalJSONStrict(rawPanel)); err != nil {
				t.Fatalf("%s: panel %d: %v", name, i, err)
			}
			dp := decodedPanel{panel: &p}
			for j, rawTarget := range head.Targets {
				var q prometheus.Dataquery
				if err := strictErr(q.UnmarshalJSONStrict(rawTarget)); err != nil {
					t.Fatalf("%s: panel %q target %d: %v", name, deref(p.Title), j, err)
				}
				dp.targets = append(dp.targets, &q)
			}
			panels = append(panels, dp)
		}
	}
	walk(top.Panels)
	return panels, rows
}

func TestDashboardsDecodeStrictly(t *testing.T) {
	for name, raw := range dashboardFiles(t) {
		d := decodeDashboardStrictly(t, name, raw)
		if d.Uid == nil || *d.Uid == "" {
			t.Errorf("%s: no fixed uid: provisioning would give it a new one on every load", name)
		}
		if d.Title == nil || *d.Title == "" {
			t.Errorf("%s: no title", name)
		}
		if d.SchemaVersion != schemaVersion {
			t.Errorf("%s: schemaVersion %d, want %d", name, d.SchemaVersion, schemaVersion)
		}
		panels, _ := strictPanels(t, name, raw)
		if len(panels) < 10 {
			t.Errorf("%s: %d panels", name, len(panels))
		}
		for _, p := range panels {
			if len(p.targets) == 0 {
				t.Errorf("%s: panel %q has no query", name, title(p.panel))
			}
		}
	}
}

// The strict decoder must notice what Grafana would silently drop, or the
// test above proves nothing.
func TestStrictDecodeRejectsUnknownFields(t *testing.T) {
	for name, raw := range dashboardFiles(t) {
		var generic map[string]any
		if err := json.Unmarshal(raw, &generic); err != nil {
			t.Fatal(err)
		}
		panel := generic["panels"].([]any)[1].(map[string]any)
		panel["targets"].([]any)[0].(map[string]any)["exprr"] = "typo"
		broken, err := json.Marshal(generic)
		if err != nil {
			t.Fatal(err)
		}
		var d dashboard.Dashboard
		plugins.RegisterDefaultPlugins()
		if strictErr(d.UnmarshalJSONStrict(broken)) == nil {
			t.Errorf("%s: a target with an unknown field decoded without error", name)
		}
	}
}

func TestDashboardsHaveNoInputs(t *testing.T) {
	for name, raw := range dashboardFiles(t) {
		var top map[string]json.RawMessage
		if err := json.Unmarshal(raw, &top); err != nil {
			t.Fatal(err)
		}
		for _, key := range []string{"__inputs", "__requires", "__elements"} {
			if _, ok := top[key]; ok {
				t.Errorf("%s: has %s: file provisioning never fills them", name, key)
			}
		}
		if strings.Contains(string(raw), "${DS_") {
			t.Errorf("%s: refers to an import-time ${DS_...} input", name)
		}
	}
}

func TestEveryPanelUsesDatasourceVariable(t *testing.T) {
	for name, raw := range dashboardFiles(t) {
		d := decodeDashboardStrictly(t, name, raw)
		var dsVar, listVar *dashboard.VariableModel
		for i, v := range d.Templating.List {
			switch v.Name {
			case "datasource":
				dsVar = &d.Templating.List[i]
			case "list":
				listVar = &d.Templating.List[i]
			}
		}
		if dsVar == nil || dsVar.Type != dashboard.VariableTypeDatasource || dsVar.Query == nil || dsVar.Query.String == nil || *dsVar.Query.String != "prometheus" {
			t.Fatalf("%s: no datasource variable of type prometheus", name)
		}
		if listVar == nil {
			t.Fatalf("%s: no list variable", name)
		}
		if listVar.Multi == nil || !*listVar.Multi || listVar.IncludeAll == nil || !*listVar.IncludeAll {
			t.Errorf("%s: list variable is not multi-value with All", name)
		}
		checkRef(t, name, "variable list", listVar.Datasource)

		panels, rows := strictPanels(t, name, raw)
		for _, r := range rows {
			if r.Datasource != nil {
				checkRef(t, name, "row "+deref(r.Title), r.Datasource)
			}
		}
		for _, p := range panels {
			checkRef(t, name, "panel "+title(p.panel), p.panel.Datasource)
			for _, q := range p.targets {
				checkRef(t, name, "panel "+title(p.panel)+" target "+deref(q.RefId), q.Datasource)
			}
		}
	}
}

func checkRef(t *testing.T, dashboardName, what string, ref *common.DataSourceRef) {
	t.Helper()
	if ref == nil || ref.Uid == nil || *ref.Uid != datasourceUID {
		t.Errorf("%s: %s does not use the datasource variable (%s)", dashboardName, what, refString(ref))
		return
	}
	if ref.Type == nil || *ref.Type != "prometheus" {
		t.Errorf("%s: %s datasource type is %s, want prometheus", dashboardName, what, refString(ref))
	}
}

func refString(ref *common.DataSourceRef) string {
	if ref == nil {
		return "none"
	}
	return "type " + deref(ref.Type) + " uid " + deref(ref.Uid)
}

func title(p *dashboard.Panel) string { return deref(p.Title) }

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

// promqlParser accepts stable PromQL only: no experimental functions, as a
// default Prometheus does.
var promqlParser = parser.NewParser(parser.Options{})

// sampleVariables are what a user would pick: two lists, a day's range.
// Grafana escapes regexp metacharacters of the values with a backslash and
// doubles it for the PromQL string: a dot arrives as \\. in the query text.
var sampleVariables = Variables{List: `(healthy@lists\\.example\\.org|moderated@lists\\.example\\.org)`}

func TestQueriesParseAndUseOnlyExportedMetrics(t *testing.T) {
	queries, err := Queries()
	if err != nil {
		t.Fatal(err)
	}
	if len(queries) < 20 {
		t.Fatalf("Queries() returned %d queries; the dashboard has more", len(queries))
	}
	exported := exportedSeriesNames()
	used := map[string]bool{}
	for _, q := range queries {
		promql := q.PromQL(sampleVariables)
		if strings.Contains(promql, "$") {
			t.Errorf("%s / %s %s: variable left after expansion: %s", q.Dashboard, q.Panel, q.RefID, promql)
			continue
		}
		expr, err := promqlParser.ParseExpr(promql)
		if err != nil {
			t.Errorf("%s / %s %s: does not parse: %v\n%s", q.Dashboard, q.Panel, q.RefID, err, promql)
			continue
		}
		selectors := 0
		parser.Inspect(expr, func(node parser.Node, _ []parser.Node) error {
			vs, ok := node.(*parser.VectorSelector)
			if !ok {
				return nil
			}
			selectors++
			name := vs.Name
			if name == "" {
				t.Errorf("%s / %s %s: selector %s names no metric", q.Dashboard, q.Panel, q.RefID, vs)
				return nil
			}
			used[name] = true
			if !exported[name] {
				t.Errorf("%s / %s %s: metric %s is not exported by listprobe", q.Dashboard, q.Panel, q.RefID, name)
			}
			return nil
		})
		if selectors == 0 {
			t.Errorf("%s / %s %s: selects no metric: %s", q.Dashboard, q.Panel, q.RefID, promql)
		}
	}
	// The dashboard should show what listprobe exports; say what it leaves out.
	var unused []string
	for name, typ := range exportedMetrics() {
		n := name
		if typ == histogram {
			n = name + "_bucket"
		}
		if !used[n] {
			unused = append(unused, name)
		}
	}
	sort.Strings(unused)
	if len(unused) > 0 {
		t.Errorf("exported metrics no dashboard shows: %v", unused)
	}
}

// A metric outside the exported set must be caught: otherwise the test above
// passes on anything.
func TestMetricCheckCatchesUnknownMetric(t *testing.T) {
	expr, err := promqlParser.ParseExpr(`sum(rate(listprobe_probes_totl[5m])) / listprobe_probe_success`)
	if err != nil {
		t.Fatal(err)
	}
	exported := exportedSeriesNames()
	var unknown []string
	parser.Inspect(expr, func(node parser.Node, _ []parser.Node) error {
		if vs, ok := node.(*parser.VectorSelector); ok && !exported[vs.Name] {
			unknown = append(unknown, vs.Name)
		}
		return nil
	})
	if len(unknown) != 1 || unknown[0] != "listprobe_probes_totl" {
		t.Errorf("unknown metrics found: %v, want [listprobe_probes_totl]", unknown)
	}
}

func TestQueryPromQLExpandsGrafanaVariables(t *testing.T) {
	q := Query{Expr: `sum by (list) (increase(listprobe_probes_total{list=~"$list"}[$__range])) / rate(x{list=~"${list}"}[$__rate_interval]) + y[$__interval]`}
	got := q.PromQL(Variables{List: "a|b"})
	want := `sum by (list) (increase(listprobe_probes_total{list=~"a|b"}[3600s])) / rate(x{list=~"a|b"}[60s]) + y[15s]`
	if got != want {
		t.Errorf("PromQL:\n got %s\nwant %s", got, want)
	}
}

func TestQueriesIncludeVariableAndMailmanMarks(t *testing.T) {
	queries, err := Queries()
	if err != nil {
		t.Fatal(err)
	}
	var variable, mailman, other int
	for _, q := range queries {
		switch {
		case q.Panel == "variable list":
			variable++
			if q.Expr != "listprobe_probe_success" {
				t.Errorf("variable list query = %q, want the selector listprobe_probe_success", q.Expr)
			}
		case q.UsesMailmanREST():
			mailman++
		default:
			other++
		}
	}
	if variable != 1 || mailman == 0 || other == 0 {
		t.Errorf("queries: %d variable, %d Mailman REST, %d others", variable, mailman, other)
	}
}

// Panels must lie inside Grafana's 24 columns and not overlap: a hand edit
// that breaks the layout makes Grafana push panels around unpredictably.
func TestPanelsDoNotOverlap(t *testing.T) {
	type box struct {
		name       string
		x, y, w, h uint32
	}
	for name, raw := range dashboardFiles(t) {
		panels, rows := strictPanels(t, name, raw)
		var boxes []box
		for _, r := range rows {
			if r.GridPos == nil {
				t.Errorf("%s: row %q has no gridPos", name, deref(r.Title))
				continue
			}
			g := r.GridPos
			boxes = append(boxes, box{"row " + deref(r.Title), g.X, g.Y, g.W, g.H})
		}
		for _, p := range panels {
			if p.panel.GridPos == nil {
				t.Errorf("%s: panel %q has no gridPos", name, title(p.panel))
				continue
			}
			g := p.panel.GridPos
			boxes = append(boxes, box{"panel " + title(p.panel), g.X, g.Y, g.W, g.H})
		}
		for i, a := range boxes {
			if a.w == 0 || a.h == 0 || a.x+a.w > 24 {
				t.Errorf("%s: %s at x=%d w=%d h=%d is outside the 24 columns or empty", name, a.name, a.x, a.w, a.h)
			}
			for _, b := range boxes[i+1:] {
				if a.x < b.x+b.w && b.x < a.x+a.w && a.y < b.y+b.h && b.y < a.y+a.h {
					t.Errorf("%s: %s and %s overlap", name, a.name, b.name)
				}
			}
		}
	}
}

// The provisioning directory, mounted into a running Grafana, adds the
// dashboards and nothing else: no data source that could replace or outrank
// one the Grafana already has.
func TestProvisioningAddsOnlyTheDashboards(t *testing.T) {
	root := filepath.Join(RepoRoot, "dashboards", "provisioning")
	var found []string
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(root, path)
		found = append(found, rel)
		raw, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		var doc map[string]any
		if err := yaml.Unmarshal(raw, &doc); err != nil {
			return fmt.Errorf("%s: %w", rel, err)
		}
		for key := range doc {
			if key != "apiVersion" && key != "providers" {
				t.Errorf("provisioning/%s provisions %q: only dashboard providers belong here", rel, key)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(found, []string{"dashboards/listprobe.yaml"}) {
		t.Errorf("provisioning/ holds %v, want only dashboards/listprobe.yaml", found)
	}
}

// The optional data source is safe to add to a running Grafana: not the
// default, and with a name and uid that no usual setup has.
func TestOptionalDatasourceIsNotDefaultAndNamedApart(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join(RepoRoot, "dashboards", "optional", "datasources", "listprobe-prometheus.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		APIVersion  int `yaml:"apiVersion"`
		Datasources []struct {
			Name      string         `yaml:"name"`
			UID       string         `yaml:"uid"`
			Type      string         `yaml:"type"`
			Access    string         `yaml:"access"`
			URL       string         `yaml:"url"`
			IsDefault *bool          `yaml:"isDefault"`
			Editable  bool           `yaml:"editable"`
			JSONData  map[string]any `yaml:"jsonData"`
		} `yaml:"datasources"`
	}
	dec := yaml.NewDecoder(bytes.NewReader(raw))
	dec.KnownFields(true)
	if err := dec.Decode(&doc); err != nil {
		t.Fatal(err)
	}
	if len(doc.Datasources) != 1 {
		t.Fatalf("%d data sources, want 1", len(doc.Datasources))
	}
	ds := doc.Datasources[0]
	if ds.IsDefault == nil || *ds.IsDefault {
		t.Error("the optional data source must say isDefault: false")
	}
	if ds.Type != "prometheus" || !strings.Contains(strings.ToLower(ds.Name), "listprobe") || !strings.HasPrefix(ds.UID, "listprobe") {
		t.Errorf("data source %q (uid %q, type %q): want a prometheus data source named after listprobe, so it replaces none of a running Grafana's", ds.Name, ds.UID, ds.Type)
	}
	if !strings.Contains(string(raw), "OPTIONAL") {
		t.Error("the file does not say it is optional")
	}
}
