package gnmi

import (
	"context"
	"encoding/json"
	"strings"
	"time"

	gpb "github.com/openconfig/gnmi/proto/gnmi"
	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/proto"

	"github.com/amp-edge/amp/internal/auth"
	"github.com/amp-edge/amp/internal/config"
	"github.com/amp-edge/amp/internal/schema"
	"github.com/amp-edge/amp/internal/tenant"
)

// gnmiVersion is the gNMI specification version of the compiled proto.
func gnmiVersion() string {
	opts := gpb.File_github_com_openconfig_gnmi_proto_gnmi_gnmi_proto.Options()
	if v, ok := proto.GetExtension(opts, gpb.E_GnmiService).(string); ok && v != "" {
		return v
	}
	return "0.10.0"
}

// Capabilities lists every module of every loaded model set.
func (s *Server) Capabilities(ctx context.Context, _ *gpb.CapabilityRequest) (*gpb.CapabilityResponse, error) {
	resp := &gpb.CapabilityResponse{
		SupportedEncodings: []gpb.Encoding{gpb.Encoding_JSON_IETF, gpb.Encoding_JSON},
		GNMIVersion:        gnmiVersion(),
	}
	for _, set := range s.eng.Schema().Sets {
		for _, m := range set.Modules {
			resp.SupportedModels = append(resp.SupportedModels, &gpb.ModelData{Name: m.Name, Organization: m.Organization, Version: m.Revision})
		}
	}
	return resp, nil
}

// encodeOptions maps a gNMI encoding to the schema encoder's options.
func encodeOptions(enc gpb.Encoding) (schema.EncodeOptions, error) {
	switch enc {
	case gpb.Encoding_JSON:
		return schema.EncodeOptions{}, nil
	case gpb.Encoding_JSON_IETF:
		return schema.EncodeOptions{RFC7951: true}, nil
	}
	return schema.EncodeOptions{}, errorf(codes.Unimplemented, "encoding %s is not supported: use JSON_IETF (RFC 7951) or JSON", enc)
}

// typedValue wraps JSON text in the TypedValue for the encoding.
func typedValue(enc gpb.Encoding, b []byte) *gpb.TypedValue {
	if enc == gpb.Encoding_JSON_IETF {
		return &gpb.TypedValue{Value: &gpb.TypedValue_JsonIetfVal{JsonIetfVal: b}}
	}
	return &gpb.TypedValue{Value: &gpb.TypedValue_JsonVal{JsonVal: b}}
}

// readFilter is what a Get type (or a subscription, ALL) keeps.
type readFilter int

const (
	readAll readFilter = iota
	readConfig
	readState
)

// Get reads each path at one snapshot: one notification per path (and
// target), holding one update with the subtree as JSON.
func (s *Server) Get(ctx context.Context, req *gpb.GetRequest) (*gpb.GetResponse, error) {
	opts, err := encodeOptions(req.GetEncoding())
	if err != nil {
		return nil, err
	}
	filter := readAll
	switch req.GetType() {
	case gpb.GetRequest_ALL:
	case gpb.GetRequest_CONFIG:
		filter, opts.ConfigOnly = readConfig, true
	case gpb.GetRequest_STATE, gpb.GetRequest_OPERATIONAL:
		filter, opts.StateOnly = readState, true
	default:
		return nil, errorf(codes.InvalidArgument, "unknown data type %v", req.GetType())
	}
	paths := req.GetPath()
	if len(paths) == 0 {
		paths = []*gpb.Path{{}}
	}
	var specs []*pathSpec
	for _, p := range paths {
		ps, err := s.parsePath(req.GetPrefix(), p, req.GetUseModels(), forRead)
		if err != nil {
			return nil, err
		}
		specs = append(specs, ps)
	}
	snap := s.eng.Snapshot()
	now := time.Now().UnixNano()
	resp := &gpb.GetResponse{}
	for _, ps := range specs {
		targets, err := s.targets(ctx, snap, ps)
		if err != nil {
			return nil, err
		}
		found := false
		for _, t := range targets {
			loc, err := ps.loc(t)
			if err != nil {
				return nil, toStatus(err)
			}
			if err := s.authorize(ctx, auth.Read, loc.REST()); err != nil {
				if ps.target == AllTargets {
					continue
				}
				return nil, err
			}
			if ps.target != AllTargets && !ps.set.Global() && !snap.TargetExists(t) {
				return nil, errNoEnterprise(t).Err()
			}
			val, err := read(snap, loc, filter, opts)
			if err != nil {
				if ps.target == AllTargets && schema.KindOf(err) == schema.KindNotFound {
					continue
				}
				return nil, toStatus(ps.wrap(err))
			}
			b, err := json.Marshal(val)
			if err != nil {
				return nil, toStatus(err)
			}
			found = true
			resp.Notification = append(resp.Notification, &gpb.Notification{
				Timestamp: now,
				Prefix:    &gpb.Path{Origin: ps.origin, Target: t},
				Update:    []*gpb.Update{{Path: ps.fullPath(), Val: typedValue(req.GetEncoding(), b)}},
			})
		}
		if !found && ps.target == AllTargets {
			return nil, errorf(codes.NotFound, "path %s: no enterprise you may read has data there", ps.str)
		}
	}
	return resp, nil
}

// targets lists the enterprises a path addresses: its own (the caller
// authorizes, then checks that it exists), or for AllTargets every
// enterprise the caller may read.
func (s *Server) targets(ctx context.Context, snap *config.Snapshot, ps *pathSpec) ([]string, error) {
	if ps.target != AllTargets {
		return []string{ps.target}, nil
	}
	var out []string
	for _, o := range snap.Targets() {
		name, _ := o.Data[tenant.IDField].(string)
		if name == "" {
			continue
		}
		if s.allowed(ctx, principal(ctx), auth.Read, schema.RESTPrefix(ps.set, name)) {
			out = append(out, name)
		}
	}
	return out, nil
}

// read returns the JSON-ready value at loc, as the REST API's GET would.
func read(snap *config.Snapshot, loc *schema.Location, filter readFilter, opts schema.EncodeOptions) (any, error) {
	snap, err := snap.ReadThrough(loc) // a migrated version reads through its migration
	if err != nil {
		return nil, err
	}
	n := loc.Node
	switch {
	case filter == readConfig && !n.Config:
		return nil, schema.Errorf(schema.KindNotFound, loc.REST(), "%q is operational state, and Get type CONFIG has none", n.Name)
	case filter == readState && n.Config && (n.Kind == schema.Leaf || n.Kind == schema.LeafList):
		return nil, schema.Errorf(schema.KindNotFound, loc.REST(), "%q is configuration, and Get type STATE has none", n.Name)
	}
	if loc.Collection {
		if loc.Object.Kind != schema.Root {
			if _, ok := snap.Object(loc); !ok {
				return nil, schema.Errorf(schema.KindNotFound, loc.REST(), "%s does not exist", schema.RESTPathOfKey(loc.Set, loc.ObjectKey, nil, false, nil))
			}
		}
		items := []any{}
		snap.Entries(loc.ObjectKey, loc.Inner, n, "", func(o *config.Object) bool {
			t, _ := snap.Tree(o)
			items = append(items, t)
			return true
		})
		return schema.Encode(n, items, opts), nil
	}
	obj, ok := snap.Object(loc)
	if !ok {
		return nil, schema.Errorf(schema.KindNotFound, loc.REST(), "%s %q does not exist", loc.Object.Name, strings.Join(loc.Keys, ","))
	}
	tree, _ := snap.Tree(obj)
	var val any = tree
	if len(loc.Inner) > 0 {
		v, ok := schema.Lookup(tree, loc.Inner)
		if !ok {
			return nil, schema.Errorf(schema.KindNotFound, loc.REST(), "%q is not set", n.Name)
		}
		val = v
	}
	return schema.Encode(n, val, opts), nil
}
