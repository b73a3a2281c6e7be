package gnmi

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/amp-edge/amp/internal/config"
	"github.com/amp-edge/amp/internal/schema"
)

// codeOf maps an error kind to its gRPC code: the one table (docs/gnmi.md
// repeats it). A conflict with current state (a reference to something
// missing, a rule across objects) is FailedPrecondition, as gRPC advises for
// "the system is not in the state the operation needs"; Aborted is kept for
// concurrency conflicts, which AMP's serial commits never produce.
var codeOf = map[schema.Kind]codes.Code{
	schema.KindInvalid:         codes.InvalidArgument,
	schema.KindNotFound:        codes.NotFound,
	schema.KindConflict:        codes.FailedPrecondition,
	schema.KindPrecondition:    codes.FailedPrecondition,
	schema.KindUnprocessable:   codes.InvalidArgument,
	schema.KindGone:            codes.OutOfRange,
	schema.KindTooLarge:        codes.ResourceExhausted,
	schema.KindUnauthenticated: codes.Unauthenticated,
	schema.KindForbidden:       codes.PermissionDenied,
	schema.KindUnavailable:     codes.Unavailable,
	schema.KindInternal:        codes.Internal,
}

// maxMessage bounds a status message: it travels in an HTTP/2 header
// (grpc-message), and clients refuse large header blocks.
const maxMessage = 8 << 10

// maxDetails bounds the problems attached as google.rpc.BadRequest details.
const maxDetails = 100

// toStatus converts any error to a gRPC status error. A *schema.Error keeps
// every problem: in the message as "path: reason; …" (cut at 8 KiB, with a
// count of the rest) and as BadRequest field violations.
func toStatus(err error) error {
	if err == nil {
		return nil
	}
	if _, ok := status.FromError(err); ok {
		return err
	}
	switch {
	case errors.Is(err, context.Canceled):
		return status.Error(codes.Canceled, err.Error())
	case errors.Is(err, context.DeadlineExceeded):
		return status.Error(codes.DeadlineExceeded, err.Error())
	case errors.Is(err, config.ErrLagged):
		return status.Error(codes.ResourceExhausted, "subscriber too slow: "+err.Error())
	}
	var se *schema.Error
	if !errors.As(err, &se) {
		return status.Error(codes.Internal, err.Error())
	}
	code, ok := codeOf[se.Kind]
	if !ok {
		code = codes.Unknown
	}
	var b strings.Builder
	b.WriteString(se.Message)
	for i, p := range se.Problems {
		sep := "; "
		if i == 0 {
			sep = ": "
		}
		item := p.Reason
		if p.Path != "" {
			item = p.Path + ": " + p.Reason
		}
		if b.Len()+len(sep)+len(item) > maxMessage {
			fmt.Fprintf(&b, "; and %d more problems (all of them are in the BadRequest details)", len(se.Problems)-i)
			break
		}
		b.WriteString(sep)
		b.WriteString(item)
	}
	st := status.New(code, b.String())
	if len(se.Problems) > 0 {
		br := &errdetails.BadRequest{}
		for i, p := range se.Problems {
			if i == maxDetails {
				break
			}
			br.FieldViolations = append(br.FieldViolations, &errdetails.BadRequest_FieldViolation{Field: p.Path, Description: p.Reason})
		}
		if withDetails, derr := st.WithDetails(br); derr == nil {
			st = withDetails
		}
	}
	return st.Err()
}
