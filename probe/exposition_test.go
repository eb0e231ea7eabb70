package probe

import (
	"bytes"
	"compress/gzip"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/prometheus/client_golang/prometheus/testutil"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/listprobe/listprobe/probe/config"
)

// TestMetricsHandlerAnswersAsPromhttp asks /metrics as scrapers do and
// compares each answer with promhttp's over Gatherer (every family as
// client_golang families): the same status, content type, encoding, Vary
// and families.
func TestMetricsHandlerAnswersAsPromhttp(t *testing.T) {
	m := goldenWorld(t)
	ref := promhttp.HandlerFor(m.Gatherer(), promhttp.HandlerOpts{})
	const prometheus3 = "application/openmetrics-text;version=1.0.0;escaping=allow-utf-8;q=0.6,application/openmetrics-text;version=0.0.1;q=0.5,text/plain;version=1.0.0;escaping=allow-utf-8;q=0.4,text/plain;version=0.0.4;q=0.3,*/*;q=0.2"
	for _, tc := range []struct{ path, accept, encoding string }{
		{"/metrics", "", ""},
		{"/metrics", "", "gzip"},
		{"/metrics", prometheus3, "gzip"},
		{"/metrics", "text/plain;version=1.0.0;escaping=allow-utf-8", "gzip, deflate, br"},
		{"/metrics", "application/openmetrics-text;version=1.0.0", "identity"},
		{"/metrics", "application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=delimited;q=0.7,text/plain;version=0.0.4;q=0.3", "gzip"},
		{"/metrics", "text/plain", "gzip;q=0, identity"},
		{"/metrics", "text/plain", "*"},
		{"/metrics", "text/plain", "br;q=1, gzip;q=0.5, identity;q=0.8"},
		{"/metrics", "text/plain", "identity;q=0, gzip;q=0.1"},
		{"/metrics", "text/plain", "gzip;q=nonsense"},
		{"/metrics?name[]=listprobe_probes_total&name[]=listprobe_mailbox_up&name[]=nothing", "", "gzip"},
	} {
		t.Run(tc.accept+" "+tc.encoding+" "+tc.path, func(t *testing.T) {
			ask := func(h http.Handler) *httptest.ResponseRecorder {
				req := httptest.NewRequest(http.MethodGet, tc.path, nil)
				if tc.accept != "" {
					req.Header.Set("Accept", tc.accept)
				}
				if tc.encoding != "" {
					req.Header.Set("Accept-Encoding", tc.encoding)
				}
				rec := httptest.NewRecorder()
				h.ServeHTTP(rec, req)
				return rec
			}
			got, want := ask(m.Handler()), ask(ref)
			if got.Code != want.Code {
				t.Fatalf("status %d, promhttp %d", got.Code, want.Code)
			}
			for _, h := range []string{"Content-Type", "Content-Encoding"} {
				if g, w := got.Header().Get(h), want.Header().Get(h); g != w {
					t.Errorf("%s: %q, promhttp %q", h, g, w)
				}
			}
			if g, w := got.Header().Values("Vary"), want.Header().Values("Vary"); !slices.Equal(g, w) {
				t.Errorf("Vary: %q, promhttp %q", g, w)
			}
			g, w := decodeScrape(t, got), decodeScrape(t, want)
			if g != w {
				t.Error("families differ from promhttp's")
				gl, wl := strings.Split(g, "\n"), strings.Split(w, "\n")
				for _, l := range gl {
					if !slices.Contains(wl, l) {
						t.Errorf("not in promhttp's answer: %s", l)
					}
				}
				for _, l := range wl {
					if !slices.Contains(gl, l) {
						t.Errorf("only in promhttp's answer: %s", l)
					}
				}
			}
			if !strings.Contains(g, "listprobe_probes_total") {
				t.Errorf("no listprobe_probes_total:\n%s", g)
			}
		})
	}
}

// decodeScrape decodes a /metrics answer in its format and encoding into
// the text of its families, each family's series sorted, less the families
// whose values change from one scrape to the next.
func decodeScrape(t *testing.T, rec *httptest.ResponseRecorder) string {
	t.Helper()
	var body io.Reader = rec.Body
	if rec.Header().Get("Content-Encoding") == "gzip" {
		zr, err := gzip.NewReader(rec.Body)
		if err != nil {
			t.Fatal(err)
		}
		body = zr
	}
	raw, err := io.ReadAll(body)
	if err != nil {
		t.Fatal(err)
	}
	if !utf8.Valid(raw) && expfmt.Format(rec.Header().Get("Content-Type")).FormatType() == expfmt.TypeTextPlain {
		t.Error("the text is not UTF-8")
	}
	dec := expfmt.NewDecoder(bytes.NewReader(raw), expfmt.Format(rec.Header().Get("Content-Type")))
	var out []string
	for {
		var mf dto.MetricFamily
		if err := dec.Decode(&mf); err == io.EOF {
			break
		} else if err != nil {
			t.Fatalf("decoding %s: %v", rec.Header().Get("Content-Type"), err)
		}
		if name := mf.GetName(); strings.HasPrefix(name, "go_") || strings.HasPrefix(name, "process_") {
			continue
		}
		var b strings.Builder
		if _, err := expfmt.MetricFamilyToText(&b, &mf); err != nil {
			t.Fatal(err)
		}
		out = append(out, normalized(b.String()))
	}
	slices.Sort(out) // the text decoder returns families in no order
	return strings.Join(out, "")
}

// The per-list families are written between the registry's in the order of
// their names, so they must be sorted, and none may be the registry's too
// (it would be written twice).
func TestListFamiliesAreSortedAndApart(t *testing.T) {
	if !slices.IsSortedFunc(listFamilies, func(a, b *listFamily) int { return strings.Compare(a.name, b.name) }) {
		t.Error("listFamilies are not in the order of their names")
	}
	m := goldenWorld(t)
	mfs, err := m.Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		for _, f := range listFamilies {
			if f.name == mf.GetName() {
				t.Errorf("%s is a per-list family and on the registry", f.name)
			}
		}
	}
	for i, f := range listFamilies {
		if i > 0 && listFamilies[i-1].name == f.name || !model.LegacyValidation.IsValidMetricName(f.name) {
			t.Errorf("family %q: twice or not a valid name", f.name)
		}
	}
	if len(Outcomes) > maxOutcomes {
		t.Errorf("%d outcomes, listSeries counts %d", len(Outcomes), maxOutcomes)
	}
	if problems, err := testutil.GatherAndLint(m.Gatherer()); err != nil || len(problems) > 0 {
		t.Errorf("lint: %v %v", problems, err)
	}
}

// A label value is escaped as the text format wants, and bytes that are
// not UTF-8 never reach the scrape: Prometheus would refuse all of it.
func TestLabelValuesAreEscapedAndUTF8(t *testing.T) {
	for in, want := range map[string]string{
		"plain":            "plain",
		`a"b\c` + "\nd":    `a\"b\\c\nd`,
		"ünï":              "ünï",
		"bad\xff\xfe end":  "bad\uFFFD end",
		"\xc3 cut \"quote": "\uFFFD cut \\\"quote",
	} {
		if got := string(appendLabelValue(nil, in)); got != want {
			t.Errorf("%q: %q, want %q", in, got, want)
		}
	}
	m := NewMetrics()
	const list = "bad\xfflist@lists.example.org"
	m.Configure(&config.Config{Lists: []*config.ListConfig{{Address: list}}, Accounts: map[string]*config.AccountConfig{}})
	m.Mailman(list, MailmanState{Up: true, DefaultMemberAction: "hold\xff\"", Poster: MemberState{DeliveryMode: "x\ny"}})
	rec := httptest.NewRecorder()
	m.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	if !utf8.Valid(rec.Body.Bytes()) {
		t.Fatal("/metrics is not UTF-8")
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	if _, err := parser.TextToMetricFamilies(bytes.NewReader(rec.Body.Bytes())); err != nil {
		t.Fatalf("/metrics does not parse: %v", err)
	}
	for _, want := range []string{`{action="hold` + "\uFFFD" + `\"",list="bad` + "\uFFFD" + `list@lists.example.org"} 1`, `mode="x\ny"`} {
		if !strings.Contains(rec.Body.String(), want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
}
