// Package netboxtest is a stand-in NetBox for tests: it serves saved list
// answers (internal/provision/netbox/testdata/netbox) the way NetBox 4.x's
// REST API does (docs/integrations/rest-api.md of netbox-community/netbox):
// /api/<app>/<model>/ with limit/offset paging and absolute `next` links,
// `count`, and the token in "Authorization: Token" (v1) or "Bearer nbt_…"
// (v2), 403 {"detail": …} without it. Tests change its data to play a
// NetBox that changed, or break a page.
package netboxtest

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
)

// Server is the stand-in NetBox.
type Server struct {
	*httptest.Server
	token string

	mu      sync.Mutex
	objects map[string][]map[string]any // "dcim/sites" → its results
	queries []string
	// Break, when set, may rewrite a page before it is served (path as
	// "dcim/devices", the page's offset).
	breakPage func(path string, offset int, page map[string]any)
}

// Fixtures is the directory of the saved answers.
func Fixtures() string {
	wd, _ := os.Getwd()
	for dir := wd; ; dir = filepath.Dir(dir) {
		p := filepath.Join(dir, "internal", "provision", "netbox", "testdata", "netbox")
		if st, err := os.Stat(p); err == nil && st.IsDir() {
			return p
		}
		if filepath.Dir(dir) == dir {
			panic("netboxtest: no internal/provision/netbox/testdata/netbox above " + wd)
		}
	}
}

// New serves the saved answers of dir (one page per file) and accepts
// token; it stops when the test ends.
func New(t testing.TB, dir, token string) *Server {
	t.Helper()
	s := &Server{token: token, objects: map[string][]map[string]any{}}
	err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(p, ".json") {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		body, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		var page struct {
			Results []map[string]any `json:"results"`
		}
		if err := json.Unmarshal(body, &page); err != nil {
			return fmt.Errorf("%s: %w", p, err)
		}
		s.objects[strings.TrimSuffix(filepath.ToSlash(rel), ".json")] = page.Results
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	s.Server = httptest.NewServer(http.HandlerFunc(s.serve))
	t.Cleanup(s.Close)
	return s
}

// Edit changes the results of one endpoint ("dcim/devices").
func (s *Server) Edit(path string, fn func(results []map[string]any) []map[string]any) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.objects[path] = fn(s.objects[path])
}

// Break rewrites pages as they are served (nil: none).
func (s *Server) Break(fn func(path string, offset int, page map[string]any)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.breakPage = fn
}

// Queries returns the request URIs served so far.
func (s *Server) Queries() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.queries...)
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	want := "Token " + s.token
	if strings.HasPrefix(s.token, "nbt_") {
		want = "Bearer " + s.token
	}
	if r.Header.Get("Authorization") != want {
		w.WriteHeader(http.StatusForbidden)
		_, _ = w.Write([]byte(`{"detail": "Invalid v1 token"}`))
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.queries = append(s.queries, r.URL.RequestURI())
	path := strings.Trim(strings.TrimPrefix(r.URL.Path, "/api/"), "/")
	all, ok := s.objects[path]
	if !ok || !strings.HasSuffix(r.URL.Path, "/") {
		w.WriteHeader(http.StatusNotFound)
		_, _ = w.Write([]byte(`{"detail": "Not found."}`))
		return
	}
	q := r.URL.Query()
	limit, offset := 50, 0 // NetBox's PAGINATE_COUNT default
	if v, err := strconv.Atoi(q.Get("limit")); err == nil && v > 0 {
		limit = min(v, 1000) // MAX_PAGE_SIZE
	}
	if v, err := strconv.Atoi(q.Get("offset")); err == nil && v >= 0 {
		offset = v
	}
	end := min(offset+limit, len(all))
	results := []map[string]any{}
	if offset < len(all) {
		results = all[offset:end]
	}
	link := func(off int) any {
		nq := r.URL.Query()
		nq.Set("limit", strconv.Itoa(limit))
		nq.Set("offset", strconv.Itoa(off))
		return "http://" + r.Host + r.URL.Path + "?" + nq.Encode()
	}
	page := map[string]any{"count": len(all), "next": nil, "previous": nil, "results": results}
	if end < len(all) {
		page["next"] = link(end)
	}
	if offset > 0 {
		page["previous"] = link(max(offset-limit, 0))
	}
	if s.breakPage != nil {
		// A deep copy, so that breaking a page leaves the data as it was.
		b, _ := json.Marshal(page)
		page = nil
		_ = json.Unmarshal(b, &page)
		s.breakPage(path, offset, page)
	}
	_ = json.NewEncoder(w).Encode(page)
}
