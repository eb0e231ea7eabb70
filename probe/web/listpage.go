package web

import (
	"bytes"
	"cmp"
	"net/http"
	"net/url"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/listprobe/listprobe/probe"
	"github.com/listprobe/listprobe/probe/config"
)

// ListsPerPage is how many lists a page of the status page shows unless
// the address asks for another number (per=, up to MaxListsPerPage): with
// full charts and recent results, a list takes about 7 KB.
const (
	ListsPerPage    = 25
	MaxListsPerPage = 200
)

// listQuery is what the status page shows: the lists whose last outcome
// is Outcome ("" every list, "failing" those not as expected, "none"
// those without a result yet) and whose address contains Q (a list name
// or a domain, in any case), page Page (from 1) of Per lists.
type listQuery struct {
	Outcome string
	Q       string
	Page    int
	Per     int
}

// maxQuery bounds the search text kept from a request.
const maxQuery = 200

func parseListQuery(v url.Values) listQuery {
	q := listQuery{Outcome: v.Get("outcome"), Q: strings.TrimSpace(v.Get("q")), Page: 1}
	if len(q.Q) > maxQuery {
		q.Q = q.Q[:maxQuery]
	}
	if !slices.Contains(filterNames(), q.Outcome) {
		q.Outcome = ""
	}
	if p, err := strconv.Atoi(v.Get("page")); err == nil && p > 1 {
		q.Page = p
	}
	q.Per = ListsPerPage
	if p, err := strconv.Atoi(v.Get("per")); err == nil && p >= 1 {
		q.Per = min(p, MaxListsPerPage)
	}
	return q
}

// filterNames are the values of the outcome filter.
func filterNames() []string {
	names := []string{"", "failing", "none"}
	for _, o := range probe.Outcomes {
		names = append(names, string(o))
	}
	return names
}

// href is the status page's address for q with another outcome filter and
// page.
func (q listQuery) href(outcome string, page int) string {
	v := url.Values{}
	if outcome != "" {
		v.Set("outcome", outcome)
	}
	if q.Q != "" {
		v.Set("q", q.Q)
	}
	if page > 1 {
		v.Set("page", strconv.Itoa(page))
	}
	if q.Per != ListsPerPage && q.Per > 0 {
		v.Set("per", strconv.Itoa(q.Per))
	}
	if len(v) == 0 {
		return "./"
	}
	return "./?" + v.Encode()
}

// navView is the status page's filter, its counts and its pages.
type navView struct {
	Outcome, Q        string
	Per               int
	Total, Matching   int // configured lists; lists the filter selects
	Page, Pages       int
	From, To          int // the lists shown, from 1
	Prev, Next, First string
	Filters           []filterView
}

// filterView is one value of the outcome filter, with how many of the
// lists matching the search have it.
type filterView struct {
	Name, Href string
	N          int
	Current    bool
	Bad        bool
}

// ranked is a list with what the status page orders it by.
type ranked struct {
	l    *config.ListConfig
	last *probe.Result
	rank int // 0 failing, 1 no result yet, 2 as expected
}

// index selects the lists of one page of the status page: failing lists
// first, then those without a result yet, then the others, each group in
// address order; and the filter's counts. It looks at every list's newest
// result only, so that its cost is small beside the page's rows.
func (h *handler) index(cfg *config.Config, q listQuery) ([]*config.ListConfig, *navView) {
	needle := strings.ToLower(q.Q)
	counts := map[string]int{}
	var match []ranked
	for _, l := range cfg.Lists {
		if needle != "" && !strings.Contains(strings.ToLower(l.Address), needle) {
			continue
		}
		r := ranked{l: l, last: h.svc.History().Newest(l.Address), rank: 2}
		counts[""]++
		switch {
		case r.last == nil:
			r.rank = 1
			counts["none"]++
		default:
			counts[string(r.last.Outcome)]++
			if !r.last.OK {
				r.rank = 0
				counts["failing"]++
			}
		}
		if q.Outcome == "" || (q.Outcome == "failing" && r.rank == 0) || (q.Outcome == "none" && r.rank == 1) ||
			(r.last != nil && string(r.last.Outcome) == q.Outcome) {
			match = append(match, r)
		}
	}
	slices.SortFunc(match, func(a, b ranked) int {
		return cmp.Or(cmp.Compare(a.rank, b.rank), strings.Compare(a.l.Address, b.l.Address))
	})
	nav := &navView{Outcome: q.Outcome, Q: q.Q, Per: q.Per, Total: len(cfg.Lists), Matching: len(match), Page: q.Page, First: q.href("", 1)}
	nav.Pages = max(1, (len(match)+q.Per-1)/q.Per)
	nav.Page = min(nav.Page, nav.Pages)
	from := (nav.Page - 1) * q.Per
	to := min(from+q.Per, len(match))
	nav.From, nav.To = from+1, to
	if nav.Page > 1 {
		nav.Prev = q.href(q.Outcome, nav.Page-1)
	}
	if nav.Page < nav.Pages {
		nav.Next = q.href(q.Outcome, nav.Page+1)
	}
	for _, name := range filterNames() {
		f := filterView{Name: name, N: counts[name], Href: q.href(name, 1), Current: name == q.Outcome,
			Bad: name != "" && name != "none" && name != string(probe.Delivered)}
		if f.Name == "" {
			f.Name = "all"
		}
		if f.N > 0 || f.Current {
			nav.Filters = append(nav.Filters, f)
		}
	}
	lists := make([]*config.ListConfig, 0, to-from)
	for _, r := range match[from:to] {
		lists = append(lists, r.l)
	}
	return lists, nav
}

func (h *handler) serveStatus(w http.ResponseWriter, r *http.Request) {
	q := parseListQuery(r.URL.Query())
	h.pages.serve(w, r, "index?"+q.href(q.Outcome, q.Page), func() pageView {
		cfg := h.svc.Config()
		if cfg == nil {
			return h.page(nil, nil)
		}
		lists, nav := h.index(cfg, q)
		v := h.page(cfg, lists)
		v.Nav = nav
		return v
	})
}

// serveList is one list's page: its row with every detail, found by its
// address.
func (h *handler) serveList(w http.ResponseWriter, r *http.Request) {
	name := r.URL.Query().Get("name")
	cfg := h.svc.Config()
	var list *config.ListConfig
	if cfg != nil {
		i := slices.IndexFunc(cfg.Lists, func(l *config.ListConfig) bool { return strings.EqualFold(l.Address, name) })
		if i >= 0 {
			list = cfg.Lists[i]
		}
	}
	if list == nil {
		http.Error(w, "no such list in the running configuration", http.StatusNotFound)
		return
	}
	h.pages.serve(w, r, "list?"+list.Address, func() pageView {
		v := h.page(cfg, []*config.ListConfig{list})
		v.Single = true
		return v
	})
}

// pageCache serves the status pages rendered at most once per maxAge for
// the same address, and renders at most a few at once: a hundred browsers
// asking for the page at once cost one render, not a hundred buffers of
// it, and the memory they take stays that of a few pages.
type pageCache struct {
	maxAge  time.Duration
	renders chan struct{} // a slot per render in progress

	mu    sync.Mutex
	pages map[string]*cachedPage
}

type cachedPage struct {
	done chan struct{} // closed once body is set
	body []byte
	err  error
	at   time.Time
}

// maxCachedPages bounds the cache: pages are up to 200 KB each.
const maxCachedPages = 32

func newPageCache(maxAge time.Duration) *pageCache {
	return &pageCache{maxAge: maxAge, renders: make(chan struct{}, runtime.GOMAXPROCS(0)), pages: map[string]*cachedPage{}}
}

// serve answers with the page of key, rendering it with build unless a
// render younger than maxAge, or one in progress, exists.
func (c *pageCache) serve(w http.ResponseWriter, r *http.Request, key string, build func() pageView) {
	p, mine := c.entry(key)
	if mine {
		// Rendered to the end even if this request goes away: others
		// may be waiting for it.
		c.renders <- struct{}{}
		var b bytes.Buffer
		p.err = statusTemplate.Execute(&b, build())
		p.body = b.Bytes()
		<-c.renders
		p.at = time.Now()
		close(p.done)
	}
	select {
	case <-p.done:
	case <-r.Context().Done():
		return
	}
	if p.err != nil {
		http.Error(w, "rendering the page: "+p.err.Error(), http.StatusInternalServerError)
		return
	}
	pageHeaders(w)
	w.Write(p.body)
}

// entry returns the cached page of key; mine says the caller must render
// it (and close its done).
func (c *pageCache) entry(key string) (p *cachedPage, mine bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	now := time.Now()
	if p, ok := c.pages[key]; ok {
		select {
		case <-p.done:
			if now.Sub(p.at) < c.maxAge {
				return p, false
			}
		default:
			return p, false // being rendered
		}
	}
	if len(c.pages) >= maxCachedPages {
		for k, old := range c.pages {
			select {
			case <-old.done:
				delete(c.pages, k)
			default:
			}
		}
	}
	p = &cachedPage{done: make(chan struct{})}
	c.pages[key] = p
	return p, true
}
