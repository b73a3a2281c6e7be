package gnmi

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"strings"
	"sync"
	"time"

	gpb "github.com/openconfig/gnmi/proto/gnmi"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/amp-edge/amp/internal/auth"
	"github.com/amp-edge/amp/internal/config"
	"github.com/amp-edge/amp/internal/schema"
	"github.com/amp-edge/amp/internal/tenant"
)

// MinSampleInterval is the shortest SAMPLE interval accepted.
const MinSampleInterval = 100 * time.Millisecond

// sendQueue bounds the notifications waiting for a slow subscriber; when it
// is full the stream ends with ResourceExhausted.
const sendQueue = 1024

type sub struct {
	ps       *pathSpec
	rest     string // the REST path authorized (one target only)
	sample   bool
	interval time.Duration
}

// credentialChecker gives a cheap check that a call's credential still
// holds (auth.GRPCAuth.CredentialCheck).
type credentialChecker interface {
	CredentialCheck(ctx context.Context) func() error
}

// subscription is one Subscribe stream's state.
type subscription struct {
	s       *Server
	ctx     context.Context
	stream  gpb.GNMI_SubscribeServer
	enc     gpb.Encoding
	opts    schema.EncodeOptions
	subs    []*sub
	queue   chan *gpb.SubscribeResponse
	quit    chan struct{}
	sendErr chan error
	mu      sync.Mutex
	allowed map[string]bool // target -> readable (AllTargets subscriptions), until the next recheck
	// credOK checks that the caller's credential still holds (nil: the
	// authenticator has no such check).
	credOK func() error
}

// Subscribe serves ONCE, POLL and STREAM (ON_CHANGE, SAMPLE,
// TARGET_DEFINED = ON_CHANGE) subscriptions.
func (s *Server) Subscribe(stream gpb.GNMI_SubscribeServer) error {
	ctx := stream.Context()
	release, err := s.holdSubscription(ctx)
	if err != nil {
		return err
	}
	defer release()
	first, err := stream.Recv()
	if err != nil {
		if errors.Is(err, io.EOF) {
			return nil
		}
		return err
	}
	sl := first.GetSubscribe()
	if sl == nil {
		return errorf(codes.InvalidArgument, "the first SubscribeRequest must hold a subscription list (subscribe), not a poll")
	}
	opts, err := encodeOptions(sl.GetEncoding())
	if err != nil {
		return err
	}
	if len(sl.GetSubscription()) == 0 {
		return errorf(codes.InvalidArgument, "the subscription list has no subscription")
	}
	sn := &subscription{s: s, ctx: ctx, stream: stream, enc: sl.GetEncoding(), opts: opts,
		queue: make(chan *gpb.SubscribeResponse, sendQueue), quit: make(chan struct{}), sendErr: make(chan error, 1), allowed: map[string]bool{}}
	if cc, ok := s.opts.Auth.(credentialChecker); ok {
		sn.credOK = cc.CredentialCheck(ctx)
	}
	snap := s.eng.Snapshot()
	for _, x := range sl.GetSubscription() {
		ps, err := s.parsePath(sl.GetPrefix(), x.GetPath(), sl.GetUseModels(), forRead)
		if err != nil {
			return err
		}
		su := &sub{ps: ps}
		if ps.target != AllTargets {
			loc, err := ps.loc(ps.target)
			if err != nil {
				return toStatus(err)
			}
			if err := s.authorize(ctx, auth.Read, loc.REST()); err != nil {
				return err
			}
			if !ps.set.Global() && !snap.TargetExists(ps.target) {
				return errNoEnterprise(ps.target).Err()
			}
			su.rest = loc.REST()
		}
		if sl.GetMode() == gpb.SubscriptionList_STREAM {
			switch x.GetMode() {
			case gpb.SubscriptionMode_ON_CHANGE, gpb.SubscriptionMode_TARGET_DEFINED:
			case gpb.SubscriptionMode_SAMPLE:
				su.sample = true
				su.interval = time.Duration(x.GetSampleInterval())
				if su.interval == 0 {
					su.interval = s.opts.DefaultSampleInterval
				}
				if su.interval < MinSampleInterval {
					return errorf(codes.InvalidArgument, "path %s: sample_interval %s is below the minimum of %s", ps.str, su.interval, MinSampleInterval)
				}
			default:
				return errorf(codes.InvalidArgument, "path %s: unknown subscription mode %v", ps.str, x.GetMode())
			}
		}
		sn.subs = append(sn.subs, su)
	}
	done := make(chan struct{})
	go sn.sender(done)
	err = sn.run(sl, snap)
	close(sn.quit)
	if err == nil {
		// Let the sender drain what is queued.
		select {
		case <-done:
		case <-time.After(5 * time.Second):
		}
		select {
		case err = <-sn.sendErr:
		default:
		}
	}
	if err != nil && !errors.Is(err, context.Canceled) {
		s.log.Debug("subscription ended", "error", err, "principal", principalName(ctx))
	}
	return toStatus(err)
}

// holdSubscription counts an open Subscribe stream against its
// principal's limit (Options.MaxSubscriptionsPerPrincipal); release gives
// the slot back.
func (s *Server) holdSubscription(ctx context.Context) (release func(), err error) {
	max := s.opts.MaxSubscriptionsPerPrincipal
	if max <= 0 {
		return func() {}, nil
	}
	key := principalName(ctx)
	if p := principal(ctx); p != nil {
		key = p.Via + "\x00" + p.Name
	}
	s.subsMu.Lock()
	defer s.subsMu.Unlock()
	if s.subsBy[key] >= max {
		s.m.refused.WithLabelValues("subscriptions_per_principal").Inc()
		return nil, errorf(codes.ResourceExhausted, "%q already has %d open subscriptions, the most --gnmi-max-subscriptions-per-principal allows: close one first", principalName(ctx), max)
	}
	s.subsBy[key]++
	return func() {
		s.subsMu.Lock()
		defer s.subsMu.Unlock()
		if s.subsBy[key]--; s.subsBy[key] <= 0 {
			delete(s.subsBy, key)
		}
	}, nil
}

// recheck runs before each event a stream sends after its start: the
// caller's credential must still hold (not revoked, not expired) and the
// policy must still let them read each subscribed enterprise path, else
// the stream ends with Unauthenticated or PermissionDenied. Both checks are
// cheap: the token store's cache or the JWT's expiry, and the policy's
// decision cache (a policy reload starts a new one). Targets of "*"
// subscriptions are asked again from here on.
func (sn *subscription) recheck() error {
	if sn.credOK != nil {
		if err := sn.credOK(); err != nil {
			sn.s.m.ended.WithLabelValues("unauthenticated").Inc()
			return errorf(codes.Unauthenticated, "the subscription ended: %v", err)
		}
	}
	p := principal(sn.ctx)
	for _, su := range sn.subs {
		if su.rest == "" {
			continue
		}
		if err := sn.s.authorizePath(sn.ctx, p, auth.Read, su.rest); err != nil {
			if auth.RefusalOf(err) == auth.Failed {
				sn.s.log.ErrorContext(sn.ctx, "authorization failed", "error", err, "path", su.rest)
				sn.s.m.ended.WithLabelValues("internal").Inc()
				return errorf(codes.Internal, "the subscription ended: the authorization policy could not be evaluated for %s (the operator sees why in the server log)", su.rest)
			}
			sn.s.m.ended.WithLabelValues("permission_denied").Inc()
			return errorf(codes.PermissionDenied, "the subscription ended: read %s is no longer allowed: %v", su.rest, err)
		}
	}
	sn.mu.Lock()
	clear(sn.allowed)
	sn.mu.Unlock()
	return nil
}

func principalName(ctx context.Context) string {
	if p := principal(ctx); p != nil {
		return p.Name
	}
	return ""
}

func (sn *subscription) run(sl *gpb.SubscriptionList, snap *config.Snapshot) error {
	switch sl.GetMode() {
	case gpb.SubscriptionList_ONCE:
		if !sl.GetUpdatesOnly() {
			if err := sn.initial(snap, sn.subs); err != nil {
				return err
			}
		}
		return sn.enqueue(syncResponse())
	case gpb.SubscriptionList_POLL:
		return sn.poll(sl, snap)
	case gpb.SubscriptionList_STREAM:
		return sn.streamMode(sl, snap)
	}
	return errorf(codes.InvalidArgument, "unknown subscription list mode %v", sl.GetMode())
}

func syncResponse() *gpb.SubscribeResponse {
	return &gpb.SubscribeResponse{Response: &gpb.SubscribeResponse_SyncResponse{SyncResponse: true}}
}

// sender writes queued responses to the stream, in order, in one goroutine.
func (sn *subscription) sender(done chan struct{}) {
	defer close(done)
	for {
		select {
		case r := <-sn.queue:
			if err := sn.stream.Send(r); err != nil {
				sn.sendErr <- err
				return
			}
		case <-sn.quit:
			// Drain what is left, then stop.
			for {
				select {
				case r := <-sn.queue:
					if err := sn.stream.Send(r); err != nil {
						sn.sendErr <- err
						return
					}
				default:
					return
				}
			}
		}
	}
}

var errTooSlow = status.Errorf(codes.ResourceExhausted, "subscriber too slow: %d notifications are waiting to be sent; subscribe again (the stream restarts with a full sync)", sendQueue)

// enqueue hands a response to the sender without blocking.
func (sn *subscription) enqueue(r *gpb.SubscribeResponse) error {
	select {
	case err := <-sn.sendErr:
		return err
	default:
	}
	select {
	case sn.queue <- r:
		return nil
	default:
		return errTooSlow
	}
}

// readable reports whether the caller may read a target (cached).
func (sn *subscription) readable(set *schema.ModelSet, target string) bool {
	sn.mu.Lock()
	defer sn.mu.Unlock()
	ok, seen := sn.allowed[target]
	if !seen {
		ok = sn.s.allowed(sn.ctx, principal(sn.ctx), auth.Read, schema.RESTPrefix(set, target))
		sn.allowed[target] = ok
	}
	return ok
}

// initial queues the current value of each subscription's subtree: one
// notification per path and target; paths without data send nothing.
func (sn *subscription) initial(snap *config.Snapshot, subs []*sub) error {
	now := time.Now().UnixNano()
	for _, su := range subs {
		ps := su.ps
		var targets []string
		if ps.target == AllTargets {
			for _, o := range snap.Targets() {
				if name, _ := o.Data[tenant.IDField].(string); name != "" && sn.readable(ps.set, name) {
					targets = append(targets, name)
				}
			}
		} else if ps.set.Global() || snap.TargetExists(ps.target) {
			// A global set's path has no target (""): its objects exist
			// without any enterprise.
			targets = []string{ps.target}
		}
		for _, t := range targets {
			loc, err := ps.loc(t)
			if err != nil {
				return err
			}
			val, err := read(snap, loc, readAll, sn.opts)
			if err != nil {
				if schema.KindOf(err) == schema.KindNotFound {
					continue
				}
				return ps.wrap(err)
			}
			b, err := json.Marshal(val)
			if err != nil {
				return err
			}
			n := &gpb.Notification{Timestamp: now, Prefix: &gpb.Path{Origin: ps.origin, Target: t},
				Update: []*gpb.Update{{Path: ps.fullPath(), Val: typedValue(sn.enc, b)}}}
			if err := sn.enqueue(&gpb.SubscribeResponse{Response: &gpb.SubscribeResponse_Update{Update: n}}); err != nil {
				return err
			}
		}
	}
	return nil
}

// recvLoop reads the client's later messages: polls go to polls (when not
// nil); anything else ends the stream.
func (sn *subscription) recvLoop(polls chan<- struct{}, errc chan<- error) {
	for {
		req, err := sn.stream.Recv()
		if err != nil {
			if errors.Is(err, io.EOF) {
				if polls != nil {
					errc <- io.EOF
				}
				// In STREAM mode a half-closed client still receives.
				return
			}
			errc <- err
			return
		}
		if req.GetPoll() != nil && polls != nil {
			select {
			case polls <- struct{}{}:
			default: // a poll is already pending
			}
			continue
		}
		if polls != nil {
			errc <- errorf(codes.InvalidArgument, "a POLL subscription takes only poll requests after the subscription list")
		} else {
			errc <- errorf(codes.InvalidArgument, "a %s subscription takes no requests after the subscription list", "STREAM")
		}
		return
	}
}

func (sn *subscription) poll(sl *gpb.SubscriptionList, snap *config.Snapshot) error {
	if !sl.GetUpdatesOnly() {
		if err := sn.initial(snap, sn.subs); err != nil {
			return err
		}
	}
	if err := sn.enqueue(syncResponse()); err != nil {
		return err
	}
	polls := make(chan struct{}, 1)
	errc := make(chan error, 1)
	go sn.recvLoop(polls, errc)
	for {
		select {
		case <-polls:
			if err := sn.recheck(); err != nil {
				return err
			}
			if err := sn.initial(sn.s.eng.Snapshot(), sn.subs); err != nil {
				return err
			}
			if err := sn.enqueue(syncResponse()); err != nil {
				return err
			}
		case err := <-errc:
			if errors.Is(err, io.EOF) {
				return nil
			}
			return err
		case err := <-sn.sendErr:
			return err
		case <-sn.s.closing:
			return errorf(codes.Unavailable, "the server is shutting down")
		case <-sn.ctx.Done():
			return sn.ctx.Err()
		}
	}
}

func (sn *subscription) streamMode(sl *gpb.SubscriptionList, snap *config.Snapshot) error {
	var onChange []*sub
	for _, su := range sn.subs {
		if !su.sample {
			onChange = append(onChange, su)
		}
	}
	wctx, cancel := context.WithCancel(sn.ctx)
	defer cancel()
	var watch *config.Watch
	var states <-chan config.StateChange
	if len(onChange) > 0 {
		// From the snapshot the initial updates come from, so no commit
		// between them and the first change is missed; state reports are
		// followed from before the sync response for the same reason.
		w, err := sn.s.eng.Watch(wctx, snap.Index)
		if err != nil {
			return err
		}
		watch = w
		states = sn.s.eng.WatchState(wctx)
	}
	if !sl.GetUpdatesOnly() {
		if err := sn.initial(snap, sn.subs); err != nil {
			return err
		}
	}
	if err := sn.enqueue(syncResponse()); err != nil {
		return err
	}
	errc := make(chan error, 1+len(sn.subs))
	go sn.recvLoop(nil, errc)
	var wg sync.WaitGroup
	defer func() { cancel(); wg.Wait() }() // stop the samplers before returning
	for _, su := range sn.subs {
		if su.sample {
			wg.Add(1)
			go func(su *sub) {
				defer wg.Done()
				t := time.NewTicker(su.interval)
				defer t.Stop()
				for {
					select {
					case <-t.C:
						if err := sn.recheck(); err != nil {
							errc <- err
							return
						}
						if err := sn.initial(sn.s.eng.Snapshot(), []*sub{su}); err != nil {
							errc <- err
							return
						}
					case <-wctx.Done():
						return
					}
				}
			}(su)
		}
	}
	var changes <-chan *config.Record
	if watch != nil {
		changes = watch.C
	}
	idle := time.NewTicker(sn.s.opts.IdleRecheck)
	defer idle.Stop()
	for {
		select {
		case <-idle.C:
			if err := sn.recheck(); err != nil {
				return err
			}
		case sc, ok := <-states:
			if !ok {
				if sn.ctx.Err() != nil {
					return sn.ctx.Err()
				}
				return errorf(codes.ResourceExhausted, "subscriber too slow for operational state changes")
			}
			if err := sn.recheck(); err != nil {
				return err
			}
			for _, n := range sn.stateChanges(sc, onChange) {
				if err := sn.enqueue(&gpb.SubscribeResponse{Response: &gpb.SubscribeResponse_Update{Update: n}}); err != nil {
					return err
				}
			}
		case rec, ok := <-changes:
			if !ok {
				if err := watch.Err(); err != nil {
					if errors.Is(err, config.ErrLagged) {
						return errorf(codes.ResourceExhausted, "subscriber too slow: %v", err)
					}
					return err
				}
				if err := sn.ctx.Err(); err != nil {
					return err
				}
				return errorf(codes.Unavailable, "the change feed ended")
			}
			if err := sn.recheck(); err != nil {
				return err
			}
			for _, n := range sn.changes(rec, onChange) {
				if err := sn.enqueue(&gpb.SubscribeResponse{Response: &gpb.SubscribeResponse_Update{Update: n}}); err != nil {
					return err
				}
			}
		case err := <-errc:
			return err
		case err := <-sn.sendErr:
			return err
		case <-sn.s.closing:
			return errorf(codes.Unavailable, "the server is shutting down")
		case <-sn.ctx.Done():
			return sn.ctx.Err()
		}
	}
}

// changes turns one committed transaction into notifications (one per
// target): for each changed object under a subscribed path, an update of
// the object's path with its own JSON (not its child lists), or a delete of
// a removed object; for a subscription inside an object (a container or a
// leaf), an update or delete of the subscribed path.
func (sn *subscription) changes(rec *config.Record, subs []*sub) []*gpb.Notification {
	sch := sn.s.eng.Schema()
	byTarget := map[string]*gpb.Notification{}
	var order []string
	note := func(origin, target string) *gpb.Notification {
		n, ok := byTarget[target]
		if !ok {
			n = &gpb.Notification{Timestamp: rec.Time.UnixNano(), Prefix: &gpb.Path{Origin: origin, Target: target}}
			byTarget[target] = n
			order = append(order, target)
		}
		return n
	}
	deleted := map[string]bool{}
	sentKey := map[string]bool{}
	for _, ch := range rec.Changes {
		if strings.HasPrefix(ch.Key, "@") {
			continue // target records
		}
		oloc, err := sch.ParseObjectKey(ch.Key)
		if err != nil {
			continue
		}
		if ch.After == nil {
			deleted[ch.Key] = true
		}
		for _, su := range subs {
			ps := su.ps
			sloc, ok := sn.covers(ps, oloc)
			if !ok {
				continue
			}
			if len(sloc.Inner) > 0 && !sloc.Collection && ch.Key == sloc.ObjectKey {
				// A node inside the changed object.
				k := "inner\x00" + ps.str + "\x00" + oloc.Tenant
				if sentKey[k] {
					continue
				}
				var before, after any
				var hadBefore, hasAfter bool
				if ch.Before != nil {
					before, hadBefore = schema.Lookup(ch.Before.Data, sloc.Inner)
				}
				if ch.After != nil {
					after, hasAfter = schema.Lookup(ch.After.Data, sloc.Inner)
				}
				switch {
				case hasAfter:
					if hadBefore && equalJSON(sloc.Node, before, after) {
						continue
					}
					b, err := json.Marshal(schema.Encode(sloc.Node, after, sn.opts))
					if err != nil {
						continue
					}
					sentKey[k] = true
					n := note(ps.origin, oloc.Tenant)
					n.Update = append(n.Update, &gpb.Update{Path: ps.fullPath(), Val: typedValue(sn.enc, b)})
				case hadBefore:
					sentKey[k] = true
					n := note(ps.origin, oloc.Tenant)
					n.Delete = append(n.Delete, ps.fullPath())
				}
				continue
			}
			if !under(ch.Key, sloc) {
				continue
			}
			k := "obj\x00" + ch.Key
			if sentKey[k] {
				continue
			}
			sentKey[k] = true
			p := &gpb.Path{Elem: locElems(oloc)}
			n := note(ps.origin, oloc.Tenant)
			if ch.After == nil {
				if ancestorDeleted(ch.Key, deleted) {
					continue
				}
				n.Delete = append(n.Delete, p)
				continue
			}
			b, err := json.Marshal(schema.Encode(oloc.Node, ch.After.Data, sn.opts))
			if err != nil {
				continue
			}
			n.Update = append(n.Update, &gpb.Update{Path: p, Val: typedValue(sn.enc, b)})
		}
	}
	out := make([]*gpb.Notification, 0, len(order))
	for _, t := range order {
		if n := byTarget[t]; len(n.Update)+len(n.Delete) > 0 {
			out = append(out, n)
		}
	}
	return out
}

// covers reports whether the subscribed path ps covers the object at oloc
// (same model set, its target or all targets the caller may read), and
// gives the subscribed location within that object's target.
func (sn *subscription) covers(ps *pathSpec, oloc *schema.Location) (*schema.Location, bool) {
	if ps.set != oloc.Set || (ps.target != AllTargets && ps.target != oloc.Tenant) {
		return nil, false
	}
	if ps.target == AllTargets && !sn.readable(ps.set, oloc.Tenant) {
		return nil, false
	}
	sloc, err := ps.loc(oloc.Tenant)
	if err != nil {
		return nil, false
	}
	return sloc, true
}

// stateChanges turns an operational state report into notifications for
// the ON_CHANGE subscriptions that cover it: an update (or delete) of each
// config false container of the object, or of the subscribed node inside it.
func (sn *subscription) stateChanges(sc config.StateChange, subs []*sub) []*gpb.Notification {
	oloc, err := sn.s.eng.Schema().ParseObjectKey(sc.Key)
	if err != nil {
		return nil
	}
	var out []*gpb.Notification
	for _, su := range subs {
		ps := su.ps
		sloc, ok := sn.covers(ps, oloc)
		if !ok {
			continue
		}
		n := &gpb.Notification{Timestamp: time.Now().UnixNano(), Prefix: &gpb.Path{Origin: ps.origin, Target: oloc.Tenant}}
		switch {
		case len(sloc.Inner) > 0 && !sloc.Collection && sloc.ObjectKey == sc.Key:
			// A node inside the object: only if it is (or is in) state.
			v, ok := schema.Lookup(sc.State, sloc.Inner)
			if !ok {
				n.Delete = append(n.Delete, ps.fullPath())
				break
			}
			b, err := json.Marshal(schema.Encode(sloc.Node, v, sn.opts))
			if err != nil {
				continue
			}
			n.Update = append(n.Update, &gpb.Update{Path: ps.fullPath(), Val: typedValue(sn.enc, b)})
		case under(sc.Key, sloc) || (sloc.ObjectKey == sc.Key && len(sloc.Inner) == 0 && !sloc.Collection):
			base := locElems(oloc)
			for _, c := range oloc.Node.Children {
				if c.Config || c.Kind != schema.Container {
					continue
				}
				p := &gpb.Path{Origin: ps.origin, Elem: append(append([]*gpb.PathElem{}, base...), &gpb.PathElem{Name: c.Name})}
				v, ok := sc.State[c.Name]
				if !ok {
					n.Delete = append(n.Delete, p)
					continue
				}
				b, err := json.Marshal(schema.Encode(c, v, sn.opts))
				if err != nil {
					continue
				}
				n.Update = append(n.Update, &gpb.Update{Path: p, Val: typedValue(sn.enc, b)})
			}
		default:
			continue
		}
		if len(n.Update)+len(n.Delete) > 0 {
			out = append(out, n)
		}
	}
	return out
}

// under reports whether the object key is at or below a subscribed
// location.
func under(key string, loc *schema.Location) bool {
	switch {
	case loc.Collection:
		p := loc.ObjectKey
		for _, s := range loc.Inner {
			p += "/" + s
		}
		return strings.HasPrefix(key, p+"/"+loc.Node.Name+"/")
	case len(loc.Inner) > 0:
		// Lists inside the subscribed container.
		return strings.HasPrefix(key, loc.ObjectKey+"/"+strings.Join(loc.Inner, "/")+"/")
	}
	return key == loc.ObjectKey || strings.HasPrefix(key, loc.ObjectKey+"/")
}

// ancestorDeleted reports whether an object above key was deleted in the
// same transaction (its delete covers key's).
func ancestorDeleted(key string, deleted map[string]bool) bool {
	for i := strings.LastIndexByte(key, '/'); i > 0; i = strings.LastIndexByte(key[:i], '/') {
		if deleted[key[:i]] {
			return true
		}
	}
	return false
}

func equalJSON(n *schema.Node, a, b any) bool {
	x, err1 := json.Marshal(schema.Encode(n, a, schema.EncodeOptions{}))
	y, err2 := json.Marshal(schema.Encode(n, b, schema.EncodeOptions{}))
	return err1 == nil && err2 == nil && string(x) == string(y)
}
