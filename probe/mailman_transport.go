package probe

import (
	"net"
	"net/http"
	"time"

	"github.com/listprobe/listprobe/probe/config"
)

// restTransport is the HTTP transport of one Mailman watcher: its own, so
// that its connections end with it, and bounded in every phase, so that a
// server that accepts and says nothing cannot hold a request (or a
// shutdown) longer than restTimeout. No proxy from the environment: the
// REST password goes to the configured server only. An idle connection that a late cleanup
// opened after the watcher stopped closes itself after restIdleTimeout.
func restTransport(m *config.MailmanConfig) *http.Transport {
	return &http.Transport{
		DialContext:           (&net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		TLSClientConfig:       m.TLSConfig(),
		TLSHandshakeTimeout:   10 * time.Second,
		ResponseHeaderTimeout: restTimeout,
		IdleConnTimeout:       restIdleTimeout,
		MaxIdleConnsPerHost:   2,
	}
}

// restIdleTimeout is how long a watcher keeps an unused connection to its
// Mailman server: longer than the held-queue poll, so that polling reuses
// one connection.
const restIdleTimeout = 90 * time.Second
