// Package dashboardtest checks listprobe's Grafana dashboards (the JSON
// files in the repository's dashboards/ directory): strict decoding into
// Grafana's own model, PromQL parsing, and every query evaluated by a real
// Prometheus scraping `listprobe demo`.
//
// It lives in the tools module so that the Grafana SDK and Prometheus'
// parser are not dependencies of the listprobe module itself.
package dashboardtest

import (
	"encoding/json"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"
)

// RepoRoot is the listprobe repository, relative to this package's
// directory (where go test runs its tests).
const RepoRoot = "../.."

// FS returns the dashboard JSON files, one per dashboard, at the root of the
// returned file system, read from the repository's dashboards/ directory.
func FS() fs.FS { return os.DirFS(filepath.Join(RepoRoot, "dashboards")) }

// Query is one PromQL query of a dashboard: a panel target, or the query
// behind a template variable.
type Query struct {
	// Dashboard is the file name of the dashboard, e.g. "list-health.json".
	Dashboard string
	// Panel is the panel title, or "variable NAME" for a template variable.
	Panel string
	// RefID is the target's refId ("" for variables).
	RefID string
	// Expr is the query as written in the dashboard, Grafana variables
	// included; use PromQL to get something Prometheus evaluates.
	Expr string
	// Instant is true for queries Grafana sends as instant queries; the
	// others are range queries.
	Instant bool
}

// Variables are the values Grafana would substitute into a query.
type Variables struct {
	// List is what $list expands to inside the PromQL string: a regular
	// expression over list addresses. Grafana joins a multi-value selection
	// as (a|b) and escapes regexp metacharacters with a backslash that it
	// doubles for the string literal, so a dot arrives as \\. in the text.
	// Default ".+" (the dashboard's "All").
	List string
	// Range is $__range, the dashboard's time range. Default 1h.
	Range time.Duration
	// Interval is $__interval, the step of a range query. Default 15s.
	Interval time.Duration
	// RateInterval is $__rate_interval. Default 1m (four 15 s scrapes).
	RateInterval time.Duration
}

// PromQL returns the query with Grafana's variables replaced by v, ready to
// send to Prometheus.
func (q Query) PromQL(v Variables) string {
	if v.List == "" {
		v.List = ".+"
	}
	if v.Range <= 0 {
		v.Range = time.Hour
	}
	if v.Interval <= 0 {
		v.Interval = 15 * time.Second
	}
	if v.RateInterval <= 0 {
		v.RateInterval = time.Minute
	}
	// Longer names first: strings.Replacer tries the pairs in order.
	return strings.NewReplacer(
		"$__rate_interval", promDuration(v.RateInterval),
		"$__interval", promDuration(v.Interval),
		"$__range", promDuration(v.Range),
		"${list}", v.List,
		"$list", v.List,
	).Replace(q.Expr)
}

// UsesMailmanREST reports whether the query reads metrics that exist only for
// lists with Mailman REST access (`mailman:` in the config): a setup
// without it shows no data in those panels. (`listprobe demo` has it.)
func (q Query) UsesMailmanREST() bool {
	return strings.Contains(q.Expr, "listprobe_mailman_")
}

func promDuration(d time.Duration) string {
	s := int64(d / time.Second)
	if s < 1 {
		s = 1
	}
	return strconv.FormatInt(s, 10) + "s"
}

// The part of Grafana's dashboard model that holds queries. Decoding is
// lenient here on purpose: the strict check of the model is the tests' job.
type dashboardModel struct {
	Panels     []panelModel `json:"panels"`
	Templating struct {
		List []struct {
			Name  string          `json:"name"`
			Type  string          `json:"type"`
			Query json.RawMessage `json:"query"`
		} `json:"list"`
	} `json:"templating"`
}

type panelModel struct {
	Title   string `json:"title"`
	Type    string `json:"type"`
	Targets []struct {
		RefID   string `json:"refId"`
		Expr    string `json:"expr"`
		Instant bool   `json:"instant"`
	} `json:"targets"`
	// Collapsed rows keep their panels inside.
	Panels []panelModel `json:"panels"`
}

// Queries returns every query of every dashboard, in file and panel
// order. A label_values(METRIC, LABEL) variable query is returned as the
// series selector METRIC: it has data exactly when the variable has values.
func Queries() ([]Query, error) {
	files := FS()
	names, err := fs.Glob(files, "*.json")
	if err != nil {
		return nil, fmt.Errorf("list dashboards: %w", err)
	}
	sort.Strings(names)
	var out []Query
	for _, name := range names {
		raw, err := fs.ReadFile(files, name)
		if err != nil {
			return nil, fmt.Errorf("read dashboard %s: %w", name, err)
		}
		var d dashboardModel
		if err := json.Unmarshal(raw, &d); err != nil {
			return nil, fmt.Errorf("decode dashboard %s: %w", name, err)
		}
		for _, v := range d.Templating.List {
			if v.Type != "query" {
				continue
			}
			expr, err := variableExpr(v.Query)
			if err != nil {
				return nil, fmt.Errorf("dashboard %s: variable %s: %w", name, v.Name, err)
			}
			out = append(out, Query{Dashboard: path.Base(name), Panel: "variable " + v.Name, Expr: expr, Instant: true})
		}
		var walk func(ps []panelModel)
		walk = func(ps []panelModel) {
			for _, p := range ps {
				for _, t := range p.Targets {
					out = append(out, Query{Dashboard: path.Base(name), Panel: p.Title, RefID: t.RefID, Expr: t.Expr, Instant: t.Instant})
				}
				walk(p.Panels)
			}
		}
		walk(d.Panels)
	}
	return out, nil
}

// variableExpr turns a Prometheus variable query (a string, or an object
// with a "query" string) into PromQL.
func variableExpr(raw json.RawMessage) (string, error) {
	var q string
	if err := json.Unmarshal(raw, &q); err != nil {
		var obj struct {
			Query string `json:"query"`
		}
		if err := json.Unmarshal(raw, &obj); err != nil {
			return "", fmt.Errorf("query is neither a string nor an object with a query: %w", err)
		}
		q = obj.Query
	}
	q = strings.TrimSpace(q)
	if rest, ok := strings.CutPrefix(q, "label_values("); ok && strings.HasSuffix(rest, ")") {
		args := strings.TrimSuffix(rest, ")")
		i := strings.LastIndex(args, ",")
		if i < 0 {
			return "", fmt.Errorf("label_values without a metric: %q", q)
		}
		return strings.TrimSpace(args[:i]), nil
	}
	if rest, ok := strings.CutPrefix(q, "query_result("); ok && strings.HasSuffix(rest, ")") {
		return strings.TrimSuffix(rest, ")"), nil
	}
	return "", fmt.Errorf("unsupported variable query %q", q)
}
