package probe

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/base64"
	"fmt"
	"html/template"
	"math"
	"net/http"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

//go:embed web/status.html
var webFiles embed.FS

var statusTemplate = template.Must(template.New("status.html").Funcs(template.FuncMap{
	"latency": func(r *Result) string {
		if r.Latency == nil {
			return "–"
		}
		return fmt.Sprintf("%.2fs", *r.Latency)
	},
	"duration":   func(r *Result) string { return r.Finished.Sub(r.Started).Round(time.Millisecond).String() },
	"maxSamples": func() int { return MaxSamples },
}).ParseFS(webFiles, "web/status.html"))

// Handler serves /metrics, the status page at /, one probe's page at
// /result?id=, /-/healthy and /-/ready; and, only when enabled in Options,
// an on-demand probe at /probe?list= and POST /-/reload: like Prometheus'
// --web.enable-lifecycle, anything that makes listprobe act (here: post to
// a list's subscribers) is off unless asked for.
func (s *Service) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(s.metrics.Registry, promhttp.HandlerOpts{Registry: s.metrics.Registry}))
	mux.HandleFunc("GET /-/healthy", func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprintln(w, "Healthy")
	})
	mux.HandleFunc("GET /-/ready", func(w http.ResponseWriter, _ *http.Request) {
		if !s.Ready() {
			http.Error(w, "Not ready: no configuration loaded", http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintln(w, "Ready")
	})
	if s.opts.EnableLifecycle {
		mux.HandleFunc("POST /-/reload", func(w http.ResponseWriter, r *http.Request) {
			if err := s.Reload(r.Context()); err != nil {
				httpError(w, "reload failed: "+err.Error(), http.StatusInternalServerError)
				return
			}
			fmt.Fprintln(w, "Reloaded")
		})
	} else {
		mux.HandleFunc("/-/reload", func(w http.ResponseWriter, _ *http.Request) {
			http.Error(w, "Lifecycle API is not enabled: start listprobe with --web.enable-lifecycle", http.StatusForbidden)
		})
	}
	if s.opts.EnableProbe {
		mux.HandleFunc("GET /probe", getOnly(s.serveProbe))
	} else {
		mux.HandleFunc("/probe", func(w http.ResponseWriter, _ *http.Request) {
			http.Error(w, "On-demand probes are not enabled: start listprobe with --web.enable-probe", http.StatusForbidden)
		})
	}
	mux.HandleFunc("GET /result", s.serveResult)
	mux.HandleFunc("GET /{$}", s.serveStatus)
	return noSniff(mux)
}

// pageCSP is the pages' Content-Security-Policy: they have no script and
// load nothing, so the browser is told to run none and load nothing; the
// one style sheet they have is allowed by its hash, so that nothing
// injected could style the page either.
var pageCSP = func() string {
	page, err := webFiles.ReadFile("web/status.html")
	if err != nil {
		panic(err)
	}
	_, style, _ := strings.Cut(string(page), "<style>")
	style, _, _ = strings.Cut(style, "</style>")
	sum := sha256.Sum256([]byte(style))
	return fmt.Sprintf("default-src 'none'; style-src 'sha256-%s'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'", base64.StdEncoding.EncodeToString(sum[:]))
}()

// pageHeaders are sent with every HTML page.
func pageHeaders(w http.ResponseWriter) {
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Content-Security-Policy", pageCSP)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
}

// render executes the template into a buffer first, so that a failure
// gives a clean error page rather than half a page.
func render(w http.ResponseWriter, v pageView) {
	var b bytes.Buffer
	if err := statusTemplate.Execute(&b, v); err != nil {
		http.Error(w, "rendering the page: "+err.Error(), http.StatusInternalServerError)
		return
	}
	pageHeaders(w)
	w.Write(b.Bytes())
}

func (s *Service) serveStatus(w http.ResponseWriter, _ *http.Request) {
	render(w, s.page())
}

func (s *Service) serveResult(w http.ResponseWriter, r *http.Request) {
	res := s.history.Get(r.URL.Query().Get("id"))
	if res == nil {
		http.Error(w, "no such probe result (it may have aged out of the history)", http.StatusNotFound)
		return
	}
	render(w, pageView{Result: res, Hops: hopViews(res.Hops)})
}

// serveProbe runs one probe now and answers with its result as metrics, as
// blackbox_exporter's /probe does; with debug=true, with the probe's log.
func (s *Service) serveProbe(w http.ResponseWriter, r *http.Request) {
	list := r.URL.Query().Get("list")
	if list == "" {
		http.Error(w, "list parameter is missing", http.StatusBadRequest)
		return
	}
	s.probeWriteDeadline(w, list)
	res, age, err := s.ProbeNow(r.Context(), list)
	if err != nil {
		code := http.StatusBadRequest
		if r.Context().Err() != nil {
			// The client went away (a scrape timeout): the probe goes on
			// and records its outcome; there is nobody to answer.
			code = http.StatusServiceUnavailable
		}
		httpError(w, err.Error(), code)
		return
	}
	if age > 0 {
		// Within the on-demand interval: the last probe's result, not a
		// new post.
		w.Header().Set("Age", fmt.Sprint(int(age.Seconds())))
	}
	if r.URL.Query().Get("debug") == "true" {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		if age > 0 {
			fmt.Fprintf(w, "Result of the probe that finished %s ago (on-demand probes of a list are at most one per %s)\n", age.Round(time.Second), s.opts.OnDemandMinInterval)
		}
		fmt.Fprintf(w, "Outcome: %s (expected %s)\nReason: %s\nEvidence: %s\n\nLogs for the probe:\n%s", res.Outcome, res.Expected, res.Reason, res.Evidence, res.Log)
		return
	}
	reg := prometheus.NewRegistry()
	success := prometheus.NewGauge(prometheus.GaugeOpts{Name: "listprobe_probe_success", Help: "1 when the probe's outcome matched the list's expectation."})
	outcome := prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "listprobe_probe_outcome", Help: "The probe's outcome: 1 for it, 0 for the others."}, []string{"outcome"})
	duration := prometheus.NewGauge(prometheus.GaugeOpts{Name: "listprobe_probe_duration_seconds", Help: "How long the probe took, from posting to its outcome."})
	latency := prometheus.NewGauge(prometheus.GaugeOpts{Name: "listprobe_probe_delivery_latency_seconds", Help: "Time from SMTP acceptance to the copy seen in the reader mailbox; NaN unless delivered."})
	reg.MustRegister(success, outcome, duration, latency)
	if res.OK {
		success.Set(1)
	}
	setStates(outcome, nil, outcomeNames(Outcomes), string(res.Outcome))
	duration.Set(res.Finished.Sub(res.Started).Seconds())
	if res.Latency != nil {
		latency.Set(*res.Latency)
	} else {
		latency.Set(nanValue)
	}
	promhttp.HandlerFor(reg, promhttp.HandlerOpts{}).ServeHTTP(w, r)
}

var nanValue = math.NaN()
