// Package sdcore is an in-process emulator of the two southbound APIs AMP's
// SD-Core adapter talks to, for tests:
//
//   - SD-Core's configuration API, omec-project/webconsole's configapi:
//     routes in configapi/routers.go (AddService mounts them under
//     /config/v1), handlers in configapi/api_default.go
//     (DeviceGroupGroupNamePost, GetDeviceGroups, NetworkSliceSliceNamePost,
//     GetNetworkSlices, …) and configapi/api_slice_mgmt.go
//     (DeviceGroupPostHandler, NetworkSlicePostHandler: ShouldBindJSON into
//     configmodels.DeviceGroups / configmodels.Slice), with the checks of
//     configapi/validators.go (isValidName) and configapi/slice_helpers.go
//     (parseAndValidateSliceRequest);
//   - the UPF's slice configuration endpoint, omec-project/upf
//     pfcpiface/config_handler.go (POST/PUT /v1/config/network-slices with a
//     NetworkSlice body).
//
// It stores what it accepts in memory, logs every request, and can be
// stopped, restarted (empty or not) on the same port, slowed down and made
// to fail. It is imported only by tests.
package sdcore

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"regexp"
	"sort"
	"strings"
	"sync"
	"time"
)

// Kinds of stored objects.
const (
	DeviceGroups  = "device-group"  // webconsole device groups
	NetworkSlices = "network-slice" // webconsole network slices
	UPFSlices     = "upf-slice"     // UPF slice configurations
)

// Request is one request the emulator received.
type Request struct {
	Method string
	Path   string
	Body   []byte
	Status int
	Time   time.Time
}

// Emulator is a running emulated webconsole and UPF config endpoint.
type Emulator struct {
	// URL is the server's base URL (http://127.0.0.1:port).
	URL  string
	addr string

	mu        sync.Mutex
	srv       *http.Server
	objects   map[string]map[string]json.RawMessage
	requests  []Request
	delay     time.Duration
	failNext  int
	failNextS int
	failing   int
	listForm  bool
	upfList   bool
	stopped   bool
}

// Start serves a new emulator on 127.0.0.1 on a free port.
func Start() (*Emulator, error) { return StartAt("127.0.0.1:0") }

// StartAt serves a new emulator on addr.
func StartAt(addr string) (*Emulator, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	e := &Emulator{addr: ln.Addr().String(), objects: map[string]map[string]json.RawMessage{}, upfList: true}
	e.URL = "http://" + e.addr
	e.serve(ln)
	return e, nil
}

// CoreEndpoint is what a site's connectivity-service core endpoint should
// say to reach this webconsole: its /config prefix, so that the adapter's
// {core}/v1/device-group/{id} is webconsole's /config/v1/device-group/{id}.
func (e *Emulator) CoreEndpoint() string { return e.URL + "/config" }

// UPFEndpoint is what a UPF's config-endpoint should say.
func (e *Emulator) UPFEndpoint() string { return e.URL }

func (e *Emulator) serve(ln net.Listener) {
	srv := &http.Server{Handler: e, ReadHeaderTimeout: 5 * time.Second}
	e.mu.Lock()
	e.srv, e.stopped = srv, false
	e.mu.Unlock()
	go func() { _ = srv.Serve(ln) }()
}

// Stop closes the server; requests then fail to connect.
func (e *Emulator) Stop() {
	e.mu.Lock()
	srv := e.srv
	e.stopped = true
	e.mu.Unlock()
	if srv != nil {
		_ = srv.Close()
	}
}

// Restart stops the server if it runs and serves again on the same port;
// empty clears every stored object, as a webconsole restarted on an empty
// database (or a UPF, which keeps nothing) would.
func (e *Emulator) Restart(empty bool) error {
	e.Stop()
	if empty {
		e.mu.Lock()
		e.objects = map[string]map[string]json.RawMessage{}
		e.mu.Unlock()
	}
	var ln net.Listener
	var err error
	for i := 0; i < 50; i++ {
		if ln, err = net.Listen("tcp", e.addr); err == nil {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err != nil {
		return fmt.Errorf("relisten on %s: %w", e.addr, err)
	}
	e.serve(ln)
	return nil
}

// SetDelay makes every request wait d before it is handled.
func (e *Emulator) SetDelay(d time.Duration) {
	e.mu.Lock()
	e.delay = d
	e.mu.Unlock()
}

// FailNext makes the next n requests answer status (and do nothing).
func (e *Emulator) FailNext(n, status int) {
	e.mu.Lock()
	e.failNext, e.failNextS = n, status
	e.mu.Unlock()
}

// SetFailing makes every request answer status until SetFailing(0).
func (e *Emulator) SetFailing(status int) {
	e.mu.Lock()
	e.failing = status
	e.mu.Unlock()
}

// SetIPDomainsList selects which device-group form this webconsole takes:
// false (the default) the legacy "ip-domain-expanded" object, true the
// current "ip-domains" list (webconsole's IpDomainsExpanded, multiple DNN).
func (e *Emulator) SetIPDomainsList(on bool) {
	e.mu.Lock()
	e.listForm = on
	e.mu.Unlock()
}

// SetUPFListing turns the UPF endpoint's GET list and DELETE on (the
// default) or off. omec-project/upf's handler takes only PUT and POST and
// answers 405 to anything else; the list and delete are this emulator's
// extension, so tests can check both behaviours.
func (e *Emulator) SetUPFListing(on bool) {
	e.mu.Lock()
	e.upfList = on
	e.mu.Unlock()
}

// Objects returns a copy of the stored objects of a kind, by name.
func (e *Emulator) Objects(kind string) map[string]json.RawMessage {
	e.mu.Lock()
	defer e.mu.Unlock()
	out := map[string]json.RawMessage{}
	for k, v := range e.objects[kind] {
		out[k] = append(json.RawMessage(nil), v...)
	}
	return out
}

// Requests returns the request log.
func (e *Emulator) Requests() []Request {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]Request(nil), e.requests...)
}

// ResetRequests clears the request log.
func (e *Emulator) ResetRequests() {
	e.mu.Lock()
	e.requests = nil
	e.mu.Unlock()
}

// statusWriter records the status a handler wrote.
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(s int) {
	w.status = s
	w.ResponseWriter.WriteHeader(s)
}

// ServeHTTP logs, delays, injects failures, then routes.
func (e *Emulator) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(io.LimitReader(r.Body, 16<<20))
	e.mu.Lock()
	delay := e.delay
	e.mu.Unlock()
	if delay > 0 {
		select {
		case <-time.After(delay):
		case <-r.Context().Done():
			e.log(r, body, 0)
			return
		}
	}
	sw := &statusWriter{ResponseWriter: w, status: http.StatusOK}
	e.mu.Lock()
	fail := e.failing
	if fail == 0 && e.failNext > 0 {
		e.failNext--
		fail = e.failNextS
	}
	e.mu.Unlock()
	if fail != 0 {
		writeJSON(sw, fail, map[string]string{"error": "injected failure"})
	} else {
		e.route(sw, r, body)
	}
	e.log(r, body, sw.status)
}

func (e *Emulator) log(r *http.Request, body []byte, status int) {
	e.mu.Lock()
	e.requests = append(e.requests, Request{Method: r.Method, Path: r.URL.Path, Body: body, Status: status, Time: time.Now()})
	e.mu.Unlock()
}

// namePattern is webconsole's NAME_PATTERN (configapi/validators.go).
var namePattern = regexp.MustCompile(`^[a-zA-Z0-9-_]+$`)

func (e *Emulator) route(w http.ResponseWriter, r *http.Request, body []byte) {
	p := strings.TrimSuffix(r.URL.Path, "/")
	switch {
	case strings.HasPrefix(p, "/config/v1/device-group"):
		e.webconsole(w, r, body, DeviceGroups, strings.TrimPrefix(p, "/config/v1/device-group"))
	case strings.HasPrefix(p, "/config/v1/network-slice"):
		e.webconsole(w, r, body, NetworkSlices, strings.TrimPrefix(p, "/config/v1/network-slice"))
	case p == "/v1/config/network-slices" || strings.HasPrefix(p, "/v1/config/network-slices/"):
		e.upf(w, r, body, strings.TrimPrefix(strings.TrimPrefix(p, "/v1/config/network-slices"), "/"))
	default:
		writeJSON(w, http.StatusNotFound, map[string]string{"error": "404 page not found"})
	}
}

// webconsole serves configapi's routes for one kind: GET list, and GET,
// POST, PUT, DELETE by name.
func (e *Emulator) webconsole(w http.ResponseWriter, r *http.Request, body []byte, kind, rest string) {
	if rest == "" {
		if r.Method != http.MethodGet {
			writeJSON(w, http.StatusNotFound, map[string]string{"error": "404 page not found"})
			return
		}
		// GetDeviceGroups / GetNetworkSlices: a JSON array of names.
		writeJSON(w, http.StatusOK, e.names(kind))
		return
	}
	if !strings.HasPrefix(rest, "/") || strings.Contains(rest[1:], "/") {
		writeJSON(w, http.StatusNotFound, map[string]string{"error": "404 page not found"})
		return
	}
	name := rest[1:]
	switch r.Method {
	case http.MethodGet:
		e.mu.Lock()
		v, ok := e.objects[kind][name]
		e.mu.Unlock()
		if !ok {
			writeJSON(w, http.StatusNotFound, nil)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusOK)
		_, _ = w.Write(v)
	case http.MethodDelete:
		// DeviceGroupGroupNameDelete / NetworkSliceSliceNameDelete answer
		// 200 whether or not the object existed.
		e.mu.Lock()
		delete(e.objects[kind], name)
		e.mu.Unlock()
		writeJSON(w, http.StatusOK, map[string]any{})
	case http.MethodPost, http.MethodPut:
		if !namePattern.MatchString(name) {
			writeJSON(w, http.StatusBadRequest, map[string]string{"error": fmt.Sprintf("invalid name %q: must match %s", name, namePattern)})
			return
		}
		if ct := strings.TrimSpace(strings.Split(r.Header.Get("Content-Type"), ";")[0]); ct != "application/json" {
			writeJSON(w, http.StatusBadRequest, map[string]string{"error": "unsupported content-type: " + ct})
			return
		}
		e.mu.Lock()
		listForm := e.listForm
		e.mu.Unlock()
		var err error
		if kind == DeviceGroups {
			err = validateDeviceGroup(body, listForm)
		} else {
			err = validateSlice(body)
		}
		if err != nil {
			writeJSON(w, http.StatusBadRequest, map[string]string{"error": err.Error()})
			return
		}
		e.store(kind, name, body)
		writeJSON(w, http.StatusOK, map[string]any{})
	default:
		writeJSON(w, http.StatusMethodNotAllowed, map[string]string{"error": "method not allowed"})
	}
}

// upf serves pfcpiface's ConfigHandler: PUT or POST a NetworkSlice (201
// Created), plus this emulator's GET list and DELETE by name.
func (e *Emulator) upf(w http.ResponseWriter, r *http.Request, body []byte, name string) {
	e.mu.Lock()
	listing := e.upfList
	e.mu.Unlock()
	switch {
	case (r.Method == http.MethodPost || r.Method == http.MethodPut) && name == "":
		var s upfNetworkSlice
		if err := strictDecode(body, &s); err != nil {
			writeJSON(w, http.StatusBadRequest, map[string]string{"message": "Failed to add slice", "error": err.Error()})
			return
		}
		if s.SliceName == "" {
			writeJSON(w, http.StatusBadRequest, map[string]string{"message": "Failed to add slice", "error": "sliceName is required"})
			return
		}
		e.store(UPFSlices, s.SliceName, body)
		writeJSON(w, http.StatusCreated, map[string]string{"message": "Status Created"})
	case listing && r.Method == http.MethodGet && name == "":
		writeJSON(w, http.StatusOK, e.names(UPFSlices))
	case listing && r.Method == http.MethodDelete && name != "":
		e.mu.Lock()
		_, ok := e.objects[UPFSlices][name]
		delete(e.objects[UPFSlices], name)
		e.mu.Unlock()
		if !ok {
			writeJSON(w, http.StatusNotFound, map[string]string{"message": "no such slice"})
			return
		}
		writeJSON(w, http.StatusOK, map[string]string{"message": "Status Deleted"})
	default:
		writeJSON(w, http.StatusMethodNotAllowed, map[string]string{"message": "Failed to add slice"})
	}
}

func (e *Emulator) store(kind, name string, body []byte) {
	var buf bytes.Buffer
	if err := json.Compact(&buf, body); err != nil {
		buf.Reset()
		buf.Write(body)
	}
	e.mu.Lock()
	if e.objects[kind] == nil {
		e.objects[kind] = map[string]json.RawMessage{}
	}
	e.objects[kind][name] = buf.Bytes()
	e.mu.Unlock()
}

func (e *Emulator) names(kind string) []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	out := make([]string, 0, len(e.objects[kind]))
	for n := range e.objects[kind] {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// strictDecode decodes one JSON value, refusing unknown fields and
// trailing data. webconsole's gin binding would ignore an unknown field
// (gin's EnableDecoderDisallowUnknownFields is off by default); refusing it
// here is deliberate, so that a misspelt key, or a device group in the
// other IP-domain form, fails the test instead of being silently dropped.
// Wrong types fail in both (encoding/json's UnmarshalTypeError, including a
// number too large for an int32 field).
func strictDecode(body []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("JSON bind error: %w", err)
	}
	if dec.More() {
		return errors.New("JSON bind error: trailing data after the object")
	}
	return nil
}

// Wait blocks until fn holds or the context ends (polling every 10 ms).
func Wait(ctx context.Context, fn func() bool) error {
	for !fn() {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(10 * time.Millisecond):
		}
	}
	return nil
}
