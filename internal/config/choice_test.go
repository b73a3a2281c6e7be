package config

import (
	"context"
	"errors"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/amp-edge/amp/internal/schema"
)

// choiceModule: a thing takes its source from a git case (a non-presence
// container whose url is mandatory, beside a loose leaf) or a chart case;
// its protocol is a mandatory choice of two shorthand cases.
const choiceModule = `module shapes {
  yang-version 1.1;
  namespace "urn:amp:shapes";
  prefix sh;
  list thing {
    key "id";
    leaf id { type string; }
    choice source {
      case git {
        container git { leaf url { type string; mandatory true; } }
        leaf branch { type string; }
      }
      case chart {
        leaf chart { type string; mandatory true; }
      }
    }
    choice protocol {
      mandatory true;
      leaf tcp { type uint16; }
      leaf udp { type uint16; }
    }
  }
}`

// TestChoiceCases: the nodes of a case not chosen are not required (the
// git case's mandatory url while the chart case is chosen); a case's nodes
// are required once it is chosen; two cases of one choice are refused
// naming both; a mandatory choice with no case chosen is refused.
func TestChoiceCases(t *testing.T) {
	_, st := newTestStore(t)
	e, sch := xrefEngine(t, st, fstest.MapFS{"shapes/1.0.0/shapes.yang": {Data: []byte(choiceModule)}})
	set := sch.Set("shapes", "1.0.0")
	try := func(body string) error {
		_, err := e.Submit(context.Background(), &Request{Edits: []Edit{edit(t, set, OpReplace, "acme/thing/t1", body)}})
		return err
	}
	invalid := func(body string, want ...string) {
		t.Helper()
		before := e.Snapshot().Index
		err := try(body)
		var se *schema.Error
		if !errors.As(err, &se) || se.Kind != schema.KindInvalid {
			t.Fatalf("%s: want a refusal, got %v", body, err)
		}
		for _, w := range want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%s: the refusal lacks %q: %v", body, w, err)
			}
		}
		if e.Snapshot().Index != before {
			t.Fatalf("%s: a refused transaction changed the store", body)
		}
	}
	for _, ok := range []string{
		`{"id":"t1","chart":"nginx","tcp":80}`,
		`{"id":"t1","git":{"url":"https://x"},"branch":"main","udp":53}`,
		`{"id":"t1","tcp":80}`, // no source at all: the choice is optional
	} {
		if err := try(ok); err != nil {
			t.Errorf("%s: %v", ok, err)
		}
	}
	invalid(`{"id":"t1","branch":"main","tcp":80}`, "git/url", `mandatory field "url"`)
	invalid(`{"id":"t1","chart":"nginx","branch":"main","tcp":80}`, `"chart" (case "chart") and "branch" (case "git") are in different cases of choice "source"`)
	invalid(`{"id":"t1","tcp":80,"udp":53}`, `choice "protocol"`)
	invalid(`{"id":"t1","chart":"nginx"}`, `choice "protocol" of`, "is mandatory")
}
