// Package sdcore is an in-process emulator of the two southbound APIs AMP's
// SD-Core adapter talks to, for tests and the demo, as strict as the real
// code and no stricter. Each check names the upstream file and function it
// follows; the upstream heads read are omec-project/webconsole b6b6542
// (2026-07-24) and omec-project/upf 049a2ce (2026-08-18).
//
//   - SD-Core's configuration API, omec-project/webconsole's configapi:
//     routes in configapi/routers.go (AddConfigV1Service mounts them under
//     /config/v1), handlers in configapi/api_default.go
//     (DeviceGroupGroupNamePost/Put/Delete, GetDeviceGroups,
//     GetDeviceGroupByName, NetworkSliceSliceNamePost/Put/Delete,
//     GetNetworkSlices, GetNetworkSliceByName), the helpers of
//     configapi/device_group_helpers.go (deviceGroupPostHelper,
//     deviceGroupDeleteHelper) and configapi/slice_helpers.go
//     (networkSlicePostHelper, parseAndValidateSliceRequest,
//     normalizeApplicationFilteringRules,
//     syncSubscribersOnSliceCreateOrUpdate), and configapi/validators.go
//     (NAME_PATTERN, isValidName, isValidGnbTac). Like gin, it ignores
//     keys it does not know and answers 200: the data is dropped, and a
//     GET shows what it holds.
//   - the UPF's slice configuration endpoint, omec-project/upf
//     pfcpiface/web_service.go (ConfigHandler.ServeHTTP, handleSliceConfig):
//     PUT or POST /v1/config/network-slices replaces the one slice
//     configuration the UPF holds (upf.sliceInfo, pfcpiface/upf.go
//     addSliceInfo); any other method is 405, any path below it 404, and
//     there is no read.
//
// It stores what it accepts in memory, logs every request, and can be
// stopped, restarted (empty or not) on the same port, slowed down and made
// to fail.
package sdcore

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"slices"
	"sort"
	"strconv"
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
	legacy    bool
	token     string
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
	e := &Emulator{addr: ln.Addr().String(), objects: map[string]map[string]json.RawMessage{}}
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

// SetLegacyIPDomain makes this webconsole one from before v2.1.1 (its
// "multiple DNN" change): device groups have one "ip-domain-expanded"
// object and no "ip-domains" list. By default it is a current one.
func (e *Emulator) SetLegacyIPDomain(on bool) {
	e.mu.Lock()
	e.legacy = on
	e.mu.Unlock()
}

// SetToken turns webconsole's authentication on: every /config/v1 request
// without "Authorization: Bearer <token>" is answered 401, as
// backend/auth/middleware.go (AdminOrUserAuthMiddleware,
// getClaimsFromAuthorizationHeader) does for a token it cannot verify.
func (e *Emulator) SetToken(token string) {
	e.mu.Lock()
	e.token = token
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

func (e *Emulator) route(w http.ResponseWriter, r *http.Request, body []byte) {
	p := r.URL.Path
	switch {
	case strings.HasPrefix(p, "/config/v1/"):
		e.mu.Lock()
		token := e.token
		e.mu.Unlock()
		if token != "" && r.Header.Get("Authorization") != "Bearer "+token {
			writeJSON(w, http.StatusUnauthorized, map[string]string{"error": "Auth failed: token is not valid"})
			return
		}
		switch {
		case strings.HasPrefix(p, "/config/v1/device-group"):
			e.webconsole(w, r, body, DeviceGroups, strings.TrimPrefix(p, "/config/v1/device-group"))
		case strings.HasPrefix(p, "/config/v1/network-slice"):
			e.webconsole(w, r, body, NetworkSlices, strings.TrimPrefix(p, "/config/v1/network-slice"))
		default:
			notFound(w)
		}
	case p == "/v1/config/network-slices":
		// pfcpiface/web_service.go setupConfigHandler: mux.Handle on this
		// exact path; anything below it is the ServeMux's 404.
		e.upf(w, r, body)
	default:
		notFound(w)
	}
}

// notFound is gin's (and net/http's) answer to an unrouted path.
func notFound(w http.ResponseWriter) {
	w.Header().Set("Content-Type", "text/plain")
	w.WriteHeader(http.StatusNotFound)
	_, _ = io.WriteString(w, "404 page not found")
}

// webconsole serves configapi's routes for one kind (routers.go): GET
// list, and GET, POST, PUT, DELETE by name.
func (e *Emulator) webconsole(w http.ResponseWriter, r *http.Request, body []byte, kind, rest string) {
	if rest == "" || rest == "/" {
		if r.Method != http.MethodGet {
			notFound(w)
			return
		}
		// GetDeviceGroups / GetNetworkSlices: a JSON array of names.
		writeJSON(w, http.StatusOK, e.names(kind))
		return
	}
	if !strings.HasPrefix(rest, "/") || strings.Contains(rest[1:], "/") {
		notFound(w)
		return
	}
	name := rest[1:]
	bad := func(format string, args ...any) {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": fmt.Sprintf(format, args...)})
	}
	switch r.Method {
	case http.MethodGet:
		// GetDeviceGroupByName / GetNetworkSliceByName: what is stored, with
		// its group-name / slice-name; 404 with null when absent.
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
		if kind == NetworkSlices && !namePattern.MatchString(name) {
			// NetworkSliceSliceNameDelete checks the name; the device
			// group delete does not.
			bad("Invalid slice name %s. Name needs to match regular expression: %s", name, namePattern)
			return
		}
		// DeviceGroupGroupNameDelete / NetworkSliceSliceNameDelete answer
		// 200 whether or not the object existed. deviceGroupDeleteHelper
		// first takes the group out of every slice that lists it
		// (updateDeviceGroupInNetworkSlices).
		e.mu.Lock()
		delete(e.objects[kind], name)
		if kind == DeviceGroups {
			e.dropGroupFromSlices(name)
		}
		e.mu.Unlock()
		writeJSON(w, http.StatusOK, map[string]any{})
	case http.MethodPost, http.MethodPut:
		e.mu.Lock()
		legacy := e.legacy
		e.mu.Unlock()
		if kind == DeviceGroups {
			// DeviceGroupGroupNamePost / Put.
			if !namePattern.MatchString(name) {
				bad("Invalid Device Group name %s. Name needs to match regular expression: %s", name, namePattern)
				return
			}
			ct := r.Header.Get("Content-Type")
			if ct == "" {
				bad("missing Content-Type header")
				return
			}
			if ct = contentType(ct); ct != "application/json" {
				bad("unsupported content-type: %s", ct)
				return
			}
			stored, err := deviceGroupPost(name, body, legacy)
			if err != nil {
				bad("%v", err)
				return
			}
			e.store(kind, name, stored)
			// syncDeviceGroupSubscriber: the slice that lists the group
			// must have a decimal SST.
			if err := e.sliceSSTOf(name); err != nil {
				bad("Failed to create device group %s with error: %v.", name, err)
				return
			}
			writeJSON(w, http.StatusOK, map[string]any{})
			return
		}
		// NetworkSliceSliceNamePost / Put.
		if !namePattern.MatchString(name) {
			bad("Invalid slice name %s. Name needs to match regular expression: %s", name, namePattern)
			return
		}
		stored, afterStore, err := slicePost(name, r.Header.Get("Content-Type"), body)
		if err != nil {
			bad("Failed to create network slice %s with error: %v", name, err)
			return
		}
		e.store(kind, name, stored)
		if afterStore != nil {
			bad("Failed to create network slice %s with error: %v", name, afterStore)
			return
		}
		writeJSON(w, http.StatusOK, map[string]any{})
	default:
		// gin answers a method it has no route for with 404 (its
		// HandleMethodNotAllowed is off by default).
		notFound(w)
	}
}

// dropGroupFromSlices takes a device group out of every stored slice.
// Called with e.mu held.
func (e *Emulator) dropGroupFromSlices(group string) {
	for n, raw := range e.objects[NetworkSlices] {
		var s slice
		if json.Unmarshal(raw, &s) != nil {
			continue
		}
		kept := s.SiteDeviceGroup[:0]
		for _, g := range s.SiteDeviceGroup {
			if g != group {
				kept = append(kept, g)
			}
		}
		s.SiteDeviceGroup = kept
		if b, err := json.Marshal(s); err == nil {
			e.objects[NetworkSlices][n] = b
		}
	}
}

// sliceSSTOf is the SST check of syncDeviceGroupSubscriber: the first
// slice (by name) that lists the group must have a decimal SST.
func (e *Emulator) sliceSSTOf(group string) error {
	for _, n := range e.names(NetworkSlices) {
		e.mu.Lock()
		raw := e.objects[NetworkSlices][n]
		e.mu.Unlock()
		var s slice
		if json.Unmarshal(raw, &s) != nil || !slices.Contains(s.SiteDeviceGroup, group) {
			continue
		}
		if s.SliceId.Sst == "" {
			return fmt.Errorf("missing SST in slice %s", n)
		}
		if _, err := strconv.ParseUint(s.SliceId.Sst, 10, 32); err != nil {
			return err
		}
		return nil
	}
	return nil
}

// upf serves pfcpiface's ConfigHandler: PUT or POST a NetworkSlice, which
// replaces the one configuration the UPF holds, answered 201; anything
// else 405. A body that does not decode is answered 400 and still applied
// as far as it decoded (ServeHTTP does not return after sending the 400).
func (e *Emulator) upf(w http.ResponseWriter, r *http.Request, body []byte) {
	if r.Method != http.MethodPost && r.Method != http.MethodPut {
		writeJSON(w, http.StatusMethodNotAllowed, map[string]string{"message": "Failed to add slice"})
		return
	}
	var s upfNetworkSlice
	err := json.Unmarshal(body, &s)
	e.mu.Lock()
	e.objects[UPFSlices] = nil // one slice configuration: the new one replaces it
	e.mu.Unlock()
	e.store(UPFSlices, s.SliceName, body)
	if err != nil {
		writeJSON(w, http.StatusBadRequest, map[string]string{"message": "Failed to add slice"})
		return
	}
	writeJSON(w, http.StatusCreated, map[string]string{"message": "Status Created"})
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
