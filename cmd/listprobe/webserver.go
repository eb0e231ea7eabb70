package main

import (
	"net/http"
	"time"

	probeweb "github.com/listprobe/listprobe/probe/web"
)

// webTimeouts bound how long a web client may hold a connection in each
// phase. Every endpoint answers a small GET, so none needs long: a client
// that sends its request slowly, never reads the answer or keeps an idle
// connection open is cut off instead of holding a socket and a goroutine
// forever.
type webTimeouts struct {
	ReadHeader time.Duration // the request line and headers
	Read       time.Duration // the whole request, body included
	Write      time.Duration // the answer, from the end of the request's headers
	Idle       time.Duration // a keep-alive connection between requests
}

// defaultWebTimeouts are serve's and demo's. Write is extended for the one
// answer that waits: /probe?list= waits for the probe's outcome.
var defaultWebTimeouts = webTimeouts{
	ReadHeader: 10 * time.Second,
	Read:       30 * time.Second,
	Write:      probeweb.WriteTimeout,
	Idle:       2 * time.Minute,
}

// newWebServer returns the web server for h with the timeouts t;
// exporter-toolkit's web.ListenAndServe serves it with the TLS and basic
// auth of --web.config.file.
func newWebServer(h http.Handler, t webTimeouts) *http.Server {
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: t.ReadHeader,
		ReadTimeout:       t.Read,
		WriteTimeout:      t.Write,
		IdleTimeout:       t.Idle,
		MaxHeaderBytes:    64 << 10,
	}
}
