package probe

import (
	"embed"
	"fmt"
	"html/template"
	"math"
	"net/http"
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
	"duration": func(r *Result) string { return r.Finished.Sub(r.Started).Round(time.Millisecond).String() },
}).ParseFS(webFiles, "web/status.html"))

// Handler serves /metrics, the status page at /, one probe's page at
// /result?id=, an on-demand probe at /probe?list=, /-/healthy, /-/ready and
// POST /-/reload.
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
	mux.HandleFunc("POST /-/reload", func(w http.ResponseWriter, r *http.Request) {
		if err := s.Reload(r.Context()); err != nil {
			http.Error(w, "reload failed: "+err.Error(), http.StatusInternalServerError)
			return
		}
		fmt.Fprintln(w, "Reloaded")
	})
	mux.HandleFunc("GET /probe", s.serveProbe)
	mux.HandleFunc("GET /result", s.serveResult)
	mux.HandleFunc("GET /{$}", s.serveStatus)
	return mux
}

type listView struct {
	Address       string
	Expect        Outcome
	Last          *Result
	Recent        []*Result
	LastDelivered time.Time
	NoticeLimit   string
	Late          int
}

type pageView struct {
	Lists      []listView
	Result     *Result
	ConfigFile string
	Loaded     string
	Error      string
}

func (s *Service) page() pageView {
	var v pageView
	rt := s.Runtime()
	if rt == nil {
		v.Error = "no configuration loaded yet"
		return v
	}
	v.ConfigFile = rt.cfg.File
	v.Loaded = rt.loaded.UTC().Format("2006-01-02 15:04:05 MST")
	for _, l := range rt.cfg.Lists {
		lv := listView{Address: l.Address, Expect: l.Expect, Recent: s.history.Recent(l.Address), Late: len(s.history.Late(l.Address))}
		if len(lv.Recent) > 0 {
			lv.Last = lv.Recent[0]
		}
		if d := s.history.LastDelivered(l.Address); d != nil {
			lv.LastDelivered = d.Finished
		}
		if at := rt.NoticeLimit(l.Address); !at.IsZero() && time.Since(at) < 24*time.Hour {
			lv.NoticeLimit = "Mailman sends the poster no more notices today (since " + at.UTC().Format("15:04 MST") + "): holds are silent"
		}
		v.Lists = append(v.Lists, lv)
	}
	return v
}

func (s *Service) serveStatus(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	if err := statusTemplate.Execute(w, s.page()); err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
	}
}

func (s *Service) serveResult(w http.ResponseWriter, r *http.Request) {
	res := s.history.Get(r.URL.Query().Get("id"))
	if res == nil {
		http.Error(w, "no such probe result (it may have aged out of the history)", http.StatusNotFound)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	if err := statusTemplate.Execute(w, pageView{Result: res}); err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
	}
}

// serveProbe runs one probe now and answers with its result as metrics, as
// blackbox_exporter's /probe does; with debug=true, with the probe's log.
func (s *Service) serveProbe(w http.ResponseWriter, r *http.Request) {
	list := r.URL.Query().Get("list")
	if list == "" {
		http.Error(w, "list parameter is missing", http.StatusBadRequest)
		return
	}
	res, err := s.ProbeNow(r.Context(), list)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	if r.URL.Query().Get("debug") == "true" {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
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
	for _, o := range Outcomes {
		v := 0.0
		if o == res.Outcome {
			v = 1
		}
		outcome.WithLabelValues(string(o)).Set(v)
	}
	duration.Set(res.Finished.Sub(res.Started).Seconds())
	if res.Latency != nil {
		latency.Set(*res.Latency)
	} else {
		latency.Set(nanValue)
	}
	promhttp.HandlerFor(reg, promhttp.HandlerOpts{}).ServeHTTP(w, r)
}

var nanValue = math.NaN()
