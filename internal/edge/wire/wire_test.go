package wire

import (
	"encoding/json"
	"testing"
	"time"
)

// Both ends must compute one digest for one state, whatever order they
// hold its objects in; a changed object changes it.
func TestStateDigestIgnoresOrderNotContent(t *testing.T) {
	a := Object{Kind: "node", Name: "n1", Digest: ObjectDigest(json.RawMessage(`{"labels":{"env":"prod"}}`))}
	b := Object{Kind: "namespace", Name: "apps", Digest: ObjectDigest(json.RawMessage(`{}`))}
	if StateDigest([]Object{a, b}) != StateDigest([]Object{b, a}) {
		t.Fatal("the digest depends on the order of the objects")
	}
	c := a
	c.Digest = ObjectDigest(json.RawMessage(`{"labels":{"env":"staging"}}`))
	if StateDigest([]Object{a, b}) == StateDigest([]Object{c, b}) {
		t.Fatal("a changed object left the digest unchanged")
	}
	// Kind and name are separated: ("ab","c") is not ("a","bc").
	if StateDigest([]Object{{Kind: "ab", Name: "c"}}) == StateDigest([]Object{{Kind: "a", Name: "bc"}}) {
		t.Fatal("kind and name run together in the digest")
	}
}

func TestDurationJSON(t *testing.T) {
	b, err := json.Marshal(CheckinAnswer{Interval: Duration(30 * time.Second)})
	if err != nil {
		t.Fatal(err)
	}
	var back CheckinAnswer
	if err := json.Unmarshal(b, &back); err != nil || back.Interval != Duration(30*time.Second) {
		t.Fatalf("%s → %v %v", b, back.Interval, err)
	}
	if err := json.Unmarshal([]byte(`{"checkin-interval":"soon"}`), &back); err == nil {
		t.Fatal("a malformed interval was accepted")
	}
}
