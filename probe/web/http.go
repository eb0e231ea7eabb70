// Package web implements listprobe's web UI: the status page, one probe's page,
// /metrics, the health and readiness endpoints, on-demand probes and the
// reload endpoint, over a narrow interface of the service ([Service]).
package web

import (
	"bytes"
	"context"
	"crypto/sha256"
	"embed"
	"encoding/base64"
	"fmt"
	"html/template"
	"net/http"
	"strings"
	"time"

	"github.com/listprobe/listprobe/probe"
	"github.com/listprobe/listprobe/probe/config"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

//go:embed status.html
var webFiles embed.FS

var statusTemplate = template.Must(template.New("status.html").Funcs(template.FuncMap{
	"latency": func(r *probe.Result) string {
		if r.Latency == nil {
			return "–"
		}
		return fmt.Sprintf("%.2fs", *r.Latency)
	},
	"seconds": func(s *float64) string {
		if s == nil {
			return "–"
		}
		return fmt.Sprintf("%.2fs", *s)
	},
	"duration":   func(r *probe.Result) string { return r.Finished.Sub(r.Started).Round(time.Millisecond).String() },
	"maxSamples": func() int { return probe.MaxSamples },
}).ParseFS(webFiles, "status.html"))

// Service is what the web UI reads of listprobe's service and asks of it;
// *probe.Service implements it.
type Service interface {
	// Config is the running configuration, nil before one is loaded;
	// Loaded says since when it runs.
	Config() *config.Config
	Loaded() time.Time
	Ready() bool
	Reload(ctx context.Context) error
	// ProbeNow runs (or shares, or reuses) an on-demand probe of a list.
	ProbeNow(ctx context.Context, list string) (*probe.Result, time.Duration, error)
	History() *probe.History
	Metrics() *probe.Metrics
	MailboxState(account string) (up bool, since time.Time, ok bool, err error)
	// JunkState is the state of a reader's Junk folder session; ok false
	// when the account watches none.
	JunkState(account string) (probe.FolderState, bool)
	MailmanState(list string) (probe.MailmanState, bool)
	NoticeLimit(list string) time.Time
}

var _ Service = (*probe.Service)(nil)

// Options enable the endpoints that make listprobe act on a request. The
// zero value (or nil) enables none.
type Options struct {
	// EnableProbe serves GET /probe, which posts a probe to a list's
	// subscribers; EnableLifecycle serves POST /-/reload. Default false.
	EnableProbe, EnableLifecycle bool
	// OnDemandMinInterval is the service's shortest time between two
	// on-demand probes of one list, for /probe's debug output. Default
	// probe.DefaultOnDemandMinInterval.
	OnDemandMinInterval time.Duration
}

type handler struct {
	svc   Service
	opts  Options
	pages *pageCache
}

// Handler serves /metrics, the status page at /, one probe's page at
// /result?id=, /-/healthy and /-/ready; and, only when enabled in opts,
// an on-demand probe at /probe?list= and POST /-/reload: like Prometheus'
// --web.enable-lifecycle, anything that makes listprobe act (here: post to
// a list's subscribers) is off unless asked for.
func Handler(svc Service, opts *Options) http.Handler {
	h := &handler{svc: svc, pages: newPageCache(pageMaxAge)}
	if opts != nil {
		h.opts = *opts
	}
	if h.opts.OnDemandMinInterval <= 0 {
		h.opts.OnDemandMinInterval = probe.DefaultOnDemandMinInterval
	}
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", svc.Metrics().Handler())
	mux.HandleFunc("GET /-/healthy", func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprintln(w, "Healthy")
	})
	mux.HandleFunc("GET /-/ready", func(w http.ResponseWriter, _ *http.Request) {
		if !svc.Ready() {
			http.Error(w, "Not ready: no configuration loaded", http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintln(w, "Ready")
	})
	if h.opts.EnableLifecycle {
		mux.HandleFunc("POST /-/reload", func(w http.ResponseWriter, r *http.Request) {
			if err := svc.Reload(r.Context()); err != nil {
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
	if h.opts.EnableProbe {
		mux.HandleFunc("GET /probe", getOnly(h.serveProbe))
	} else {
		mux.HandleFunc("/probe", func(w http.ResponseWriter, _ *http.Request) {
			http.Error(w, "On-demand probes are not enabled: start listprobe with --web.enable-probe", http.StatusForbidden)
		})
	}
	mux.HandleFunc("GET /result", h.serveResult)
	mux.HandleFunc("GET /audit", h.serveAudit)
	mux.HandleFunc("GET /list", h.serveList)
	mux.HandleFunc("GET /{$}", h.serveStatus)
	return noSniff(mux)
}

// pageCSP is the pages' Content-Security-Policy: they have no script and
// load nothing, so the browser is told to run none and load nothing; the
// one style sheet they have is allowed by its hash, so that nothing
// injected could style the page either.
var pageCSP = func() string {
	page, err := webFiles.ReadFile("status.html")
	if err != nil {
		panic(err)
	}
	_, style, _ := strings.Cut(string(page), "<style>")
	style, _, _ = strings.Cut(style, "</style>")
	sum := sha256.Sum256([]byte(style))
	return fmt.Sprintf("default-src 'none'; style-src 'sha256-%s'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'", base64.StdEncoding.EncodeToString(sum[:]))
}()

// pageMaxAge is how long a rendered status page is served again: the page
// reloads itself every 30 s, and within a second nobody misses a result.
const pageMaxAge = time.Second

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

func (h *handler) serveResult(w http.ResponseWriter, r *http.Request) {
	res := h.svc.History().Get(r.URL.Query().Get("id"))
	if res == nil {
		http.Error(w, "no such probe result (it may have aged out of the history)", http.StatusNotFound)
		return
	}
	render(w, pageView{Result: res, Hops: hopViews(res.Hops), Auth: authViews(res.Authentication)})
}

// serveProbe runs one probe now and answers with its result as metrics, as
// blackbox_exporter's /probe does; with debug=true, with the probe's log.
func (h *handler) serveProbe(w http.ResponseWriter, r *http.Request) {
	list := r.URL.Query().Get("list")
	if list == "" {
		http.Error(w, "list parameter is missing", http.StatusBadRequest)
		return
	}
	h.probeWriteDeadline(w, list)
	res, age, err := h.svc.ProbeNow(r.Context(), list)
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
			fmt.Fprintf(w, "Result of the probe that finished %s ago (on-demand probes of a list are at most one per %s)\n", age.Round(time.Second), h.opts.OnDemandMinInterval)
		}
		fmt.Fprintf(w, "Outcome: %s (expected %s)\nReason: %s\nEvidence: %s\n", res.Outcome, res.Expected, res.Reason, res.Evidence)
		for _, h := range res.Hints {
			fmt.Fprintf(w, "Hint: an unauthenticated %s in %s's mailbox said %q (%s)\n", strings.TrimSpace(h.Manager+" "+h.Kind), h.Account, h.Said, h.Why)
		}
		fmt.Fprintf(w, "\nLogs for the probe:\n%s", res.Log)
		return
	}
	promhttp.HandlerFor(probe.ResultMetrics(res), promhttp.HandlerOpts{}).ServeHTTP(w, r)
}
