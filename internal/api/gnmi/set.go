package gnmi

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"github.com/amp-edge/amp/internal/audit"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"
	"math"
	"strconv"
	"strings"
	"time"

	gpb "github.com/openconfig/gnmi/proto/gnmi"
	"github.com/openconfig/gnmi/proto/gnmi_ext"
	"google.golang.org/grpc/codes"

	"github.com/amp-edge/amp/internal/auth"
	"github.com/amp-edge/amp/internal/config"
	"github.com/amp-edge/amp/internal/controller"
	"github.com/amp-edge/amp/internal/schema"
)

// TransactionExtensionID is the registered extension id of the transaction
// a Set committed, as onos-config used 110 for its TransactionInfo. Its msg
// is JSON: {"id":"uuid:…","index":N}.
const TransactionExtensionID = 110

// StrategyExtensionID is the registered extension a client sends to make a
// Set wait until the adapters applied it, as onos-config's extension 111
// (TransactionStrategy, SYNCHRONOUS) did. Its msg may be the text
// "applied", the JSON {"synchronicity": "SYNCHRONOUS"}, or onos-config's
// protobuf encoding of synchronicity = 1 (0x08 0x01). The response's
// extension 110 then also carries "sync" (in-sync, error, or pending when
// the wait ended first: the change stays committed) and the objects' status.
const StrategyExtensionID = 111

// wantsApplied reports whether a Set asks to wait for the adapters.
func wantsApplied(exts []*gnmi_ext.Extension) bool {
	for _, e := range exts {
		r := e.GetRegisteredExt()
		if r == nil || r.GetId() != StrategyExtensionID {
			continue
		}
		m := string(r.GetMsg())
		return m == "applied" || m == "\x08\x01" || strings.Contains(m, "SYNCHRONOUS") && !strings.Contains(m, "ASYNCHRONOUS")
	}
	return false
}

// TransactionInfo is the msg of the transaction extension.
type TransactionInfo struct {
	ID    string `json:"id"`
	Index uint64 `json:"index"`
	// Sync and Objects answer extension 111 (wait until applied).
	Sync    string              `json:"sync,omitempty"`
	Objects []controller.Status `json:"objects,omitempty"`
}

type setOp struct {
	op  gpb.UpdateResult_Operation
	p   *gpb.Path
	val *gpb.TypedValue
}

// Set applies deletes, then replaces, then updates (the gNMI order) as one
// transaction: all of them commit or none does.
func (s *Server) Set(ctx context.Context, req *gpb.SetRequest) (*gpb.SetResponse, error) {
	touched := &[]string{}
	resp, err := s.set(context.WithValue(ctx, touchedKey{}, touched), req)
	s.auditSet(ctx, *touched, resp, err)
	return resp, err
}

type touchedKey struct{}

// auditSet records a Set: allowed (with its transaction), denied or error.
func (s *Server) auditSet(ctx context.Context, paths []string, resp *gpb.SetResponse, err error) {
	if s.opts.Audit == nil {
		return
	}
	rec := audit.Record{Interface: "gnmi", Method: "Set", Action: "write", Paths: paths, Outcome: "allowed"}
	if p := principal(ctx); p != nil {
		rec.Principal, rec.Groups, rec.Via = p.Name, p.Groups, p.Via
	}
	if pr, ok := peer.FromContext(ctx); ok {
		rec.Source = pr.Addr.String()
	}
	switch code := status.Code(err); {
	case err == nil:
		for _, e := range resp.GetExtension() {
			if r := e.GetRegisteredExt(); r != nil && r.GetId() == TransactionExtensionID {
				var info TransactionInfo
				if json.Unmarshal(r.GetMsg(), &info) == nil {
					rec.Transaction = info.Index
				}
			}
		}
	case errors.As(err, new(deniedError)) || code == codes.PermissionDenied || code == codes.Unauthenticated:
		rec.Outcome, rec.Reason = "denied", status.Convert(err).Message()
	default:
		rec.Outcome, rec.Reason = "error", status.Convert(err).Message()
	}
	s.opts.Audit.Enqueue(ctx, rec)
}

func (s *Server) set(ctx context.Context, req *gpb.SetRequest) (*gpb.SetResponse, error) {
	if len(req.GetUnionReplace()) > 0 {
		return nil, errorf(codes.Unimplemented, "union_replace is not supported: use replace")
	}
	var ops []setOp
	for _, p := range req.GetDelete() {
		ops = append(ops, setOp{op: gpb.UpdateResult_DELETE, p: p})
	}
	for _, u := range req.GetReplace() {
		ops = append(ops, setOp{op: gpb.UpdateResult_REPLACE, p: u.GetPath(), val: u.GetVal()})
	}
	for _, u := range req.GetUpdate() {
		ops = append(ops, setOp{op: gpb.UpdateResult_UPDATE, p: u.GetPath(), val: u.GetVal()})
	}
	if len(ops) == 0 {
		return nil, errorf(codes.InvalidArgument, "the Set request has no delete, replace or update")
	}
	var edits []config.Edit
	var probs schema.Problems
	results := make([]*gpb.UpdateResult, 0, len(ops))
	for _, o := range ops {
		ps, err := s.parsePath(req.GetPrefix(), o.p, nil, forSet)
		if err != nil {
			return nil, err
		}
		loc, err := ps.loc(ps.target)
		if err != nil {
			return nil, toStatus(err)
		}
		if t, ok := ctx.Value(touchedKey{}).(*[]string); ok {
			*t = append(*t, loc.REST())
		}
		if err := s.authorize(ctx, auth.Write, loc.REST()); err != nil {
			return nil, err
		}
		if !loc.Node.Config {
			probs.Add(ps.str, "%q is read-only operational state", loc.Node.Name)
			continue
		}
		ed := config.Edit{Loc: loc}
		switch o.op {
		case gpb.UpdateResult_DELETE:
			// gNMI: deleting what does not exist is silently accepted.
			ed.Op = config.OpRemove
		case gpb.UpdateResult_REPLACE:
			ed.Op = config.OpReplace
		default:
			ed.Op = config.OpMerge
		}
		if o.op != gpb.UpdateResult_DELETE {
			v, err := decodeValue(o.val, loc, ps.str)
			if err != nil {
				if se, ok := err.(*schema.Error); ok {
					probs.List = append(probs.List, se.Problems...)
					if se.Kind != schema.KindInvalid {
						return nil, toStatus(err)
					}
					continue
				}
				return nil, err
			}
			ed.Value = v
		}
		edits = append(edits, ed)
		results = append(results, &gpb.UpdateResult{Path: o.p, Op: o.op})
	}
	if err := probs.Err(); err != nil {
		return nil, toStatus(err)
	}
	// A commit must never go unrecorded: while the audit trail cannot be
	// written (disk full), writes are refused, as over REST.
	if s.opts.Audit != nil && s.opts.Audit.Err() != nil {
		return nil, status.Error(codes.Unavailable, "writes are refused while the audit trail cannot be written (the operator sees why in the server log and amp_audit_writable); retry later")
	}
	creq := &config.Request{Edits: edits, Source: "gnmi"}
	if p := principal(ctx); p != nil {
		creq.Principal, creq.Groups = p.Name, p.Groups // kept so a crash-recovered audit record names them
	}
	if pr, ok := peer.FromContext(ctx); ok && pr.Addr != nil {
		creq.Address = pr.Addr.String()
	}
	res, err := s.eng.Submit(ctx, creq)
	if err != nil {
		return nil, toStatus(err)
	}
	info := TransactionInfo{ID: res.ID, Index: res.Index}
	if s.opts.Sync != nil && wantsApplied(req.GetExtension()) {
		wctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		all, err := s.opts.Sync.WaitApplied(wctx, res.Index)
		cancel()
		// Other tenants' later commits are waited through too: only what
		// the caller may see is shown or counted.
		var sts []controller.Status
		for _, st := range all {
			if s.canSeeStatus(ctx, st) {
				sts = append(sts, st)
			}
		}
		info.Sync, info.Objects = controller.InSync, sts
		for _, st := range sts {
			if st.Status == controller.Error {
				info.Sync = controller.Error
			} else if st.Status == controller.Degraded && info.Sync == controller.InSync {
				info.Sync = controller.Degraded
			}
		}
		if err != nil {
			info.Sync = controller.Pending
		}
	}
	msg, _ := json.Marshal(info)
	return &gpb.SetResponse{
		Prefix:    req.GetPrefix(),
		Response:  results,
		Timestamp: time.Now().UnixNano(),
		Extension: []*gnmi_ext.Extension{{Ext: &gnmi_ext.Extension_RegisteredExt{RegisteredExt: &gnmi_ext.RegisteredExtension{
			Id: gnmi_ext.ExtensionID(TransactionExtensionID), Msg: msg}}}},
	}, nil
}

// decodeValue converts a Set value for loc into the canonical tree: JSON
// (json_ietf_val or json_val) for any node, or a scalar for a leaf or
// leaf-list.
func decodeValue(tv *gpb.TypedValue, loc *schema.Location, path string) (any, error) {
	if tv == nil || tv.GetValue() == nil {
		return nil, schema.Errorf(schema.KindInvalid, path, "the update has no value")
	}
	var raw any
	switch v := tv.GetValue().(type) {
	case *gpb.TypedValue_JsonIetfVal:
		j, err := parseJSON(v.JsonIetfVal, path)
		if err != nil {
			return nil, err
		}
		raw = j
	case *gpb.TypedValue_JsonVal:
		j, err := parseJSON(v.JsonVal, path)
		if err != nil {
			return nil, err
		}
		raw = j
	default:
		s, err := scalarJSON(tv)
		if err != nil {
			return nil, errorf(codes.Unimplemented, "path %s: %v", path, err)
		}
		if loc.Node.Kind != schema.Leaf && loc.Node.Kind != schema.LeafList {
			return nil, schema.Errorf(schema.KindInvalid, path, "a scalar value needs a leaf path, and %s is a %s: send json_ietf_val", loc.Node.Name, loc.Node.Kind)
		}
		raw = s
	}
	opts := schema.DecodeOptions{OmitKeysOK: true}
	return schema.DecodeJSON(loc.Node, raw, path, !loc.Collection, opts)
}

func parseJSON(b []byte, path string) (any, error) {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, schema.Errorf(schema.KindInvalid, path, "the value is not valid JSON: %v", err)
	}
	if dec.More() {
		return nil, schema.Errorf(schema.KindInvalid, path, "the value holds more than one JSON value")
	}
	return v, nil
}

type unsupportedError string

func (e unsupportedError) Error() string { return string(e) }

// scalarJSON maps a scalar TypedValue to the JSON value the decoder takes.
func scalarJSON(tv *gpb.TypedValue) (any, error) {
	switch v := tv.GetValue().(type) {
	case *gpb.TypedValue_StringVal:
		return v.StringVal, nil
	case *gpb.TypedValue_AsciiVal:
		return v.AsciiVal, nil
	case *gpb.TypedValue_IntVal:
		return json.Number(strconv.FormatInt(v.IntVal, 10)), nil
	case *gpb.TypedValue_UintVal:
		return json.Number(strconv.FormatUint(v.UintVal, 10)), nil
	case *gpb.TypedValue_BoolVal:
		return v.BoolVal, nil
	case *gpb.TypedValue_DoubleVal:
		if math.IsNaN(v.DoubleVal) || math.IsInf(v.DoubleVal, 0) {
			return nil, unsupportedError("NaN and infinities are not values of any leaf")
		}
		return json.Number(strconv.FormatFloat(v.DoubleVal, 'f', -1, 64)), nil
	case *gpb.TypedValue_FloatVal:
		return json.Number(strconv.FormatFloat(float64(v.FloatVal), 'f', -1, 32)), nil
	case *gpb.TypedValue_LeaflistVal:
		var out []any
		for _, e := range v.LeaflistVal.GetElement() {
			x, err := scalarJSON(e)
			if err != nil {
				return nil, err
			}
			out = append(out, x)
		}
		return out, nil
	}
	return nil, unsupportedError("this value type is not supported: send json_ietf_val, json_val or a string, int, uint, bool or leaf-list scalar")
}
