package web

import (
	"net/http"
	"time"

	"github.com/listprobe/listprobe/checks"
)

// maxErrorEcho bounds the text of an error answer: it may quote what the
// request sent (a list parameter) or what a config file holds, and neither
// is bounded.
const maxErrorEcho = 512

// httpError is http.Error with the text made one line and cut: an answer
// never echoes a megabyte of query string, or a line break that would start
// a line of its own in a terminal.
func httpError(w http.ResponseWriter, text string, code int) {
	http.Error(w, checks.Truncate(readable(text), maxErrorEcho), code)
}

// noSniff tells browsers to take every answer, text and metrics included,
// as the type it says it is: a probe's log or reason quoted in text/plain
// is never run as HTML.
func noSniff(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Content-Type-Options", "nosniff")
		h.ServeHTTP(w, r)
	})
}

// getOnly lets only GET through to h: the mux serves HEAD with a GET route,
// and a HEAD (a link checker, a monitoring check, a prefetch) must not make
// listprobe post to a list's subscribers.
func getOnly(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet {
			w.Header().Set("Allow", http.MethodGet)
			httpError(w, "only GET runs a probe", http.StatusMethodNotAllowed)
			return
		}
		h(w, r)
	}
}

// WriteTimeout is the web server's bound on writing one answer; see
// probeWriteDeadline for the one answer that may take longer.
const WriteTimeout = time.Minute

// probeWriteDeadline lets the answer to /probe?list= take as long as the
// list's probe may, plus the server's usual write time: the web server's
// WriteTimeout counts from the end of the request's headers, and a probe
// waits for its outcome before the first byte is written.
func (h *handler) probeWriteDeadline(w http.ResponseWriter, list string) {
	cfg := h.svc.Config()
	if cfg == nil {
		return
	}
	l := cfg.List(list)
	if l == nil {
		return
	}
	// Without a deadline to extend (a server without WriteTimeout) this
	// fails, and nothing needs extending.
	_ = http.NewResponseController(w).SetWriteDeadline(time.Now().Add(l.EffectiveTimeout(cfg.Global) + WriteTimeout))
}
