package client

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestGetHeadersAndPaging(t *testing.T) {
	var seen []*http.Request
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		seen = append(seen, r)
		if got := r.Header.Get("Authorization"); got != "Bearer tok" {
			t.Errorf("Authorization = %q", got)
		}
		if got := r.Header.Get("User-Agent"); got != "amp-cli/1.2.3" {
			t.Errorf("User-Agent = %q", got)
		}
		switch r.URL.Query().Get("continue") {
		case "":
			w.Header().Set("X-AMP-Continue", "next1")
			w.Write([]byte(`[{"sim-id":"a"},{"sim-id":"b"}]`))
		case "next1":
			w.Write([]byte(`[{"sim-id":"c"}]`))
		default:
			t.Errorf("unexpected continue %q", r.URL.Query().Get("continue"))
		}
	}))
	defer srv.Close()
	c := New(srv.URL+"/", "tok", WithVersion("1.2.3"))
	all, err := c.GetAll(context.Background(), "/aether/v2.1.x/acme/site/s1/sim-card", nil, 2)
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != 3 || len(seen) != 2 {
		t.Fatalf("got %d items in %d requests", len(all), len(seen))
	}
	if seen[0].URL.Path != "/aether/v2.1.x/acme/site/s1/sim-card" || seen[0].URL.Query().Get("limit") != "2" {
		t.Errorf("first request %s", seen[0].URL)
	}
	if seen[0].Header.Get("X-AMP-Source") != "" {
		t.Errorf("a GET should not carry X-AMP-Source")
	}
}

func TestEscapedPathKept(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.EscapedPath() != "/aether/v2.1.x/acme/site/a%2Fb" {
			t.Errorf("path %s", r.URL.EscapedPath())
		}
		w.Write([]byte(`{}`))
	}))
	defer srv.Close()
	if _, _, err := New(srv.URL, "").Get(context.Background(), "/aether/v2.1.x/acme/site/a%2Fb", nil); err != nil {
		t.Fatal(err)
	}
}

func TestWriteResultAndHeaders(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("X-AMP-Source") != "import" || r.Header.Get("X-AMP-Message") != "hello" {
			t.Errorf("headers %v", r.Header)
		}
		if r.Method == http.MethodPatch && r.URL.Path != "/aether-roc-api" && r.Header.Get("Content-Type") != "application/merge-patch+json" {
			t.Errorf("content type %q", r.Header.Get("Content-Type"))
		}
		body, _ := io.ReadAll(r.Body)
		if r.Method != http.MethodDelete && !json.Valid(body) {
			t.Errorf("body not JSON: %q", body)
		}
		if r.URL.Query().Get("dry-run") == "true" {
			w.Write([]byte(`{"dry-run":true,"changes":[{"path":"/x","op":"update","old":1,"new":2}]}`))
			return
		}
		w.Header().Set("X-AMP-Transaction-Index", "42")
		w.Header().Set("X-AMP-Transaction-Id", "uuid:1")
		w.WriteHeader(http.StatusCreated)
		w.Write([]byte(`"uuid:1"`))
	}))
	defer srv.Close()
	c := New(srv.URL, "t", WithSource("import"), WithMessage("hello"))
	ctx := context.Background()
	res, err := c.Post(ctx, "/aether/v2.1.x/acme/site", map[string]any{"site-id": "s"}, false)
	if err != nil || res.Index != 42 || res.ID != "uuid:1" || res.DryRun {
		t.Fatalf("post: %+v %v", res, err)
	}
	res, err = c.Patch(ctx, "/aether/v2.1.x/acme", []byte(`{"a":1}`), true)
	if err != nil || !res.DryRun || len(res.Changes) != 1 || string(res.Changes[0].New) != "2" {
		t.Fatalf("dry run: %+v %v", res, err)
	}
	res, err = c.PatchTopLevel(ctx, Stream{R: strings.NewReader(`{"Updates":{}}`), Length: 14}, false)
	if err != nil || res.Index != 42 {
		t.Fatalf("top level: %+v %v", res, err)
	}
	if _, err = c.Delete(ctx, "/aether/v2.1.x/acme/site/s", false); err != nil {
		t.Fatal(err)
	}
}

func TestProblemError(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/problem+json")
		w.WriteHeader(http.StatusBadRequest)
		w.Write([]byte(`{"type":"about:blank","title":"Bad Request","status":400,"detail":"validation failed","message":"validation failed: /a/imsi: bad","errors":[{"path":"/a/imsi","reason":"bad"}]}`))
	}))
	defer srv.Close()
	_, err := New(srv.URL, "t").Put(context.Background(), "/a", map[string]any{}, false)
	var ce *Error
	if !errors.As(err, &ce) {
		t.Fatalf("error %T %v", err, err)
	}
	if ce.Status != 400 || ce.Message != "validation failed: /a/imsi: bad" || len(ce.Problems) != 1 || ce.Problems[0].Path != "/a/imsi" || ce.Summary() != "validation failed" {
		t.Fatalf("%+v", ce)
	}
}

func TestNonProblemError(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "upstream down", http.StatusBadGateway)
	}))
	defer srv.Close()
	_, _, err := New(srv.URL, "t").Get(context.Background(), "/x", nil)
	var ce *Error
	if !errors.As(err, &ce) || ce.Status != 502 || !strings.Contains(ce.Error(), "upstream down") {
		t.Fatalf("%v", err)
	}
}

func TestHistoryRollbackDiffEnterprises(t *testing.T) {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /amp/transactions", func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Query().Get("limit") != "5" || r.URL.Query().Get("enterprise") != "acme" {
			t.Errorf("query %s", r.URL.RawQuery)
		}
		w.Write([]byte(`[{"index":7,"id":"u7","time":"2026-01-02T03:04:05Z","username":"admin","source":"cli","targets":["acme"],"changed-objects":2}]`))
	})
	mux.HandleFunc("GET /transactions/7", func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte(`{"index":7,"id":"u7","targets":["acme"],"changes":[{"path":"/p","op":"create","new":{"a":1}}]}`))
	})
	mux.HandleFunc("POST /transactions/3/rollback", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/problem+json")
		w.WriteHeader(http.StatusConflict)
		w.Write([]byte(`{"status":409,"title":"Conflict","message":"conflict","errors":[{"path":"/p","reason":"changed by transaction 5"}]}`))
	})
	mux.HandleFunc("POST /transactions/4/rollback", func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte(`{"index":8,"id":"u8","time":"2026-01-02T03:04:05Z","changes":[]}`))
	})
	mux.HandleFunc("GET /diff", func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte(`{"from":1,"to":2,"changes":[{"path":"/p","op":"delete","old":1}]}`))
	})
	mux.HandleFunc("GET /enterprises", func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte(`[{"enterprise-id":"acme","display-name":"ACME"}]`))
	})
	srv := httptest.NewServer(mux)
	defer srv.Close()
	c := New(srv.URL, "t")
	ctx := context.Background()
	list, err := c.Transactions(ctx, 5, 0, "acme")
	if err != nil || len(list) != 1 || list[0].Index != 7 || list[0].ChangedObjects != 2 {
		t.Fatalf("%+v %v", list, err)
	}
	tx, err := c.Transaction(ctx, 7)
	if err != nil || len(tx.Changes) != 1 || tx.Changes[0].Op != "create" {
		t.Fatalf("%+v %v", tx, err)
	}
	_, err = c.Rollback(ctx, 3, false)
	var ce *Error
	if !IsConflict(err) || !errors.As(err, &ce) || ce.Problems[0].Reason != "changed by transaction 5" {
		t.Fatalf("%v", err)
	}
	rb, err := c.Rollback(ctx, 4, false)
	if err != nil || rb.Index != 8 {
		t.Fatalf("%+v %v", rb, err)
	}
	d, err := c.Diff(ctx, 1, 2)
	if err != nil || d.To != 2 || len(d.Changes) != 1 {
		t.Fatalf("%+v %v", d, err)
	}
	ents, err := c.Enterprises(ctx)
	if err != nil || len(ents) != 1 || ents[0].ID != "acme" {
		t.Fatalf("%+v %v", ents, err)
	}
}

func TestUnreachable(t *testing.T) {
	_, _, err := New("http://127.0.0.1:1", "t").Get(context.Background(), "/x", nil)
	if err == nil || !strings.Contains(err.Error(), "cannot reach the AMP server") {
		t.Fatalf("%v", err)
	}
}
