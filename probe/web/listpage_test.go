package web

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/listprobe/listprobe/probe"
	"github.com/listprobe/listprobe/probe/config"
)

// manyLists returns a service with n lists over two domains, each with
// results: every tenth list held (expected delivered), every 25th without
// a result yet, the others delivered.
func manyLists(tb testing.TB, n, results int) *stubService {
	tb.Helper()
	cfg := &config.Config{File: "listprobe.yml", Accounts: map[string]*config.AccountConfig{
		"member": {Address: "member@example.org"}, "reader": {Address: "reader@example.org"},
	}}
	h := probe.NewHistory(10, 50)
	log := strings.Repeat("time=… level=DEBUG msg=\"IMAP FETCH\" uid=4711\n", 20)
	for i := range n {
		domain := "lists.example.org"
		if i%2 == 1 {
			domain = "lists.example.net"
		}
		addr := fmt.Sprintf("list-%05d@%s", i, domain)
		cfg.Lists = append(cfg.Lists, &config.ListConfig{Address: addr, Poster: "member", Reader: "reader", Expect: config.ExpectDelivered})
		if i%25 == 24 {
			continue
		}
		for j := range results {
			lat := 1.5 + float64(j%5)
			r := &probe.Result{ID: fmt.Sprintf("%d-%d", i, j), List: addr, Outcome: probe.Delivered, Expected: probe.Delivered, OK: true,
				Latency: &lat, Reason: "copy seen in the reader's mailbox", Log: log,
				Started: chartStart.Add(time.Duration(j) * time.Minute), Finished: chartStart.Add(time.Duration(j)*time.Minute + 3*time.Second)}
			if i%10 == 3 && j == results-1 {
				r.Outcome, r.OK, r.Latency, r.Reason = probe.Held, false, nil, "held by Mailman: The message is not from a list member"
			}
			h.Add(r)
		}
	}
	return &stubService{cfg: cfg, history: h}
}

// listsOnPage returns the list addresses of a status page, in order.
func listsOnPage(page string) []string {
	var out []string
	for _, m := range regexp.MustCompile(`<a class="list" href="[^"]*"><strong>([^<]+)</strong>`).FindAllStringSubmatch(page, -1) {
		out = append(out, m[1])
	}
	return out
}

// everyPage follows the status page's Next links from the first page of
// query and returns the lists they show.
func everyPage(t *testing.T, svc Service, query string) []string {
	t.Helper()
	var out []string
	path := "/?" + query
	for range 100 {
		page, _ := getPage(t, svc, path, http.StatusOK)
		out = append(out, listsOnPage(page)...)
		m := regexp.MustCompile(`<a rel="next" href="\./([^"]*)">`).FindStringSubmatch(page)
		if m == nil {
			return out
		}
		path = "/" + strings.ReplaceAll(m[1], "&amp;", "&")
	}
	t.Fatal("more than 100 pages")
	return nil
}

func TestStatusPageShowsFailingListsFirstInPages(t *testing.T) {
	svc := manyLists(t, 120, 3)
	page, _ := getPage(t, svc, "/", http.StatusOK)
	lists := listsOnPage(page)
	if len(lists) != ListsPerPage {
		t.Fatalf("first page shows %d lists, want %d", len(lists), ListsPerPage)
	}
	// 12 held lists (3, 13, ... 113), then the 4 without a result, then
	// the delivered ones, each group in address order.
	for i, want := range []string{"list-00003@lists.example.net", "list-00013@lists.example.net"} {
		if lists[i] != want {
			t.Errorf("list %d on the first page is %s, want %s", i, lists[i], want)
		}
	}
	if lists[11] != "list-00113@lists.example.net" || lists[12] != "list-00024@lists.example.org" || lists[16] != "list-00000@lists.example.org" {
		t.Errorf("order: %v", lists[:20])
	}
	if !strings.Contains(page, "Lists 1–25 of 120, failing first.") || !strings.Contains(page, `<a rel="next" href="./?page=2">`) || strings.Contains(page, `rel="prev"`) {
		t.Errorf("first page's pager:\n%s", section(t, page, `<p class="pages`, "</p>"))
	}
	seen := map[string]bool{}
	for _, l := range everyPage(t, svc, "") {
		if seen[l] {
			t.Errorf("%s on two pages", l)
		}
		seen[l] = true
	}
	if len(seen) != 120 {
		t.Errorf("the pages show %d lists, want all 120", len(seen))
	}
	if all, _ := getPage(t, svc, "/?per=100000", http.StatusOK); len(listsOnPage(all)) != 120 {
		t.Errorf("per=100000 shows %d lists, want all 120 (up to %d)", len(listsOnPage(all)), MaxListsPerPage)
	}
	if p2, _ := getPage(t, svc, "/?per=10&page=2", http.StatusOK); !slices.Equal(listsOnPage(p2), lists[10:20]) || !strings.Contains(p2, `href="./?page=3&amp;per=10"`) {
		t.Errorf("per=10 page 2 shows %v, want %v", listsOnPage(p2), lists[10:20])
	}
	last, _ := getPage(t, svc, "/?page=99", http.StatusOK)
	if got := listsOnPage(last); len(got) != 20 || !strings.Contains(last, "page 5 of 5") {
		t.Errorf("page 99 shows %d lists; want the last page's 20", len(got))
	}
}

func TestStatusPageFiltersByOutcomeAndListOrDomain(t *testing.T) {
	svc := manyLists(t, 120, 3)
	for _, tc := range []struct {
		query string
		want  func(i int) bool
	}{
		{"outcome=held", func(i int) bool { return i%10 == 3 }},
		{"outcome=failing", func(i int) bool { return i%10 == 3 }},
		{"outcome=none", func(i int) bool { return i%25 == 24 }},
		{"q=LISTS.EXAMPLE.ORG", func(i int) bool { return i%2 == 0 }},
		{"q=list-0011", func(i int) bool { return i >= 110 && i < 120 }},
		{"outcome=delivered&q=example.net", func(i int) bool { return i%2 == 1 && i%10 != 3 && i%25 != 24 }},
		{"outcome=rejected", func(int) bool { return false }},
		{"outcome=bogus&q=list-00007", func(i int) bool { return i == 7 }},
	} {
		var want []string
		for i := range 120 {
			if tc.want(i) {
				want = append(want, svc.cfg.Lists[i].Address)
			}
		}
		if page, _ := getPage(t, svc, "/?"+tc.query, http.StatusOK); len(want) == 0 && !strings.Contains(page, "No list matches (of 120)") {
			t.Errorf("%s: page does not say that no list matches", tc.query)
		}
		got := everyPage(t, svc, tc.query)
		slices.Sort(got)
		slices.Sort(want)
		if !slices.Equal(got, want) {
			t.Errorf("%s: %d lists %v, want %d %v", tc.query, len(got), got, len(want), want)
		}
	}
	page, _ := getPage(t, svc, "/?q=%22%3E%3Cscript%3E", http.StatusOK)
	if strings.Contains(page, "<script>") {
		t.Error("the search text is not escaped")
	}
}

func TestListPageShowsOneListWithItsDetail(t *testing.T) {
	svc := manyLists(t, 120, 3)
	page, _ := getPage(t, svc, "/list?name=LIST-00013@lists.example.net", http.StatusOK)
	if got := listsOnPage(page); !slices.Equal(got, []string{"list-00013@lists.example.net"}) {
		t.Fatalf("list page shows %v", got)
	}
	for _, want := range []string{"held by Mailman: The message is not from a list member", `class="chart"`, `href="result?id=13-0"`, `<a href="./">All lists</a>`} {
		if !strings.Contains(page, want) {
			t.Errorf("list page lacks %q", want)
		}
	}
	getPage(t, svc, "/list?name=nobody@lists.example.org", http.StatusNotFound)
}

// BenchmarkStatusPage renders the first page of 10,000 lists, each with a
// full chart (probe.MaxSamples results), with a fresh handler each time
// (its cache empty): what one render costs.
func BenchmarkStatusPage(b *testing.B) {
	svc := manyLists(b, 10000, probe.MaxSamples)
	for _, path := range []string{"/", "/?outcome=held&q=example.net", "/list?name=list-00003@lists.example.net"} {
		b.Run(strings.NewReplacer("/", "", "?", "").Replace(path), func(b *testing.B) {
			size := 0
			for b.Loop() {
				rec := httptest.NewRecorder()
				Handler(svc, nil).ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
				if rec.Code != http.StatusOK {
					b.Fatalf("%s: %d", path, rec.Code)
				}
				size = rec.Body.Len()
			}
			b.ReportMetric(float64(size)/1e3, "kB/page")
			b.ReportMetric(float64(b.Elapsed().Microseconds())/1e3/float64(b.N), "ms/page")
		})
	}
}

// BenchmarkStatusPageConcurrent sends 100 requests for / at once, at
// 10,000 lists, to a fresh handler each round (its cache empty), and
// reports their 95th percentile and how much the process's resident
// memory grew from before the first round to after the last.
func BenchmarkStatusPageConcurrent(b *testing.B) {
	svc := manyLists(b, 10000, probe.MaxSamples)
	rssBefore := residentMiB()
	var lat []time.Duration
	for b.Loop() {
		h := Handler(svc, nil)
		var mu sync.Mutex
		var wg sync.WaitGroup
		for range 100 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				start := time.Now()
				// As a client reading the answer off the socket: the
				// answer is not kept.
				w := &statusWriter{header: http.Header{}, code: http.StatusOK}
				h.ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/", nil))
				d := time.Since(start)
				if w.code != http.StatusOK {
					b.Errorf("status %d", w.code)
				}
				mu.Lock()
				lat = append(lat, d)
				mu.Unlock()
			}()
		}
		wg.Wait()
	}
	slices.Sort(lat)
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1e3, "ms-p50")
	b.ReportMetric(float64(lat[len(lat)*95/100].Microseconds())/1e3, "ms-p95")
	b.ReportMetric(residentMiB()-rssBefore, "MiB-RSS-growth")
}

// residentMiB returns the process's resident set from /proc/self/status,
// 0 where there is none.
func residentMiB() float64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for line := range strings.SplitSeq(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kib, _ := strconv.ParseFloat(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")), 64)
			return kib / 1024
		}
	}
	return 0
}

// statusWriter is a ResponseWriter that keeps only the status.
type statusWriter struct {
	header http.Header
	code   int
}

func (w *statusWriter) Header() http.Header         { return w.header }
func (w *statusWriter) WriteHeader(code int)        { w.code = code }
func (w *statusWriter) Write(p []byte) (int, error) { return len(p), nil }
