package sandbox

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strconv"
)

// RewriteREST starts a reverse proxy in front of a Mailman REST API (the
// sandbox's or the testbed's) that hands every JSON answer to edit before
// passing it on: a hostile or broken Mailman, with the real server's
// behaviour underneath. edit gets the request path and the decoded answer
// (maps and slices as encoding/json decodes them) and may change it in
// place. Close the server when done.
func RewriteREST(upstream string, edit func(path string, doc any)) (*httptest.Server, error) {
	target, err := url.Parse(upstream)
	if err != nil {
		return nil, err
	}
	proxy := &httputil.ReverseProxy{
		Rewrite: func(r *httputil.ProxyRequest) {
			r.SetURL(&url.URL{Scheme: target.Scheme, Host: target.Host})
		},
		ModifyResponse: func(resp *http.Response) error {
			body, err := io.ReadAll(resp.Body)
			resp.Body.Close()
			if err != nil {
				return err
			}
			var doc any
			if json.Unmarshal(body, &doc) == nil {
				edit(resp.Request.URL.Path, doc)
				if b, err := json.Marshal(doc); err == nil {
					body = b
				}
			}
			resp.Body = io.NopCloser(bytes.NewReader(body))
			resp.ContentLength = int64(len(body))
			resp.Header.Set("Content-Length", strconv.Itoa(len(body)))
			return nil
		},
	}
	return httptest.NewServer(proxy), nil
}
