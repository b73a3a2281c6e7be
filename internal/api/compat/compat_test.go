package compat

import (
	"strings"
	"testing"

	"github.com/amp-edge/amp/internal/schema"
)

func set(name string, compat ...string) *schema.ModelSet {
	return &schema.ModelSet{Descriptor: schema.Descriptor{Name: name, Version: "1.0.0", Scope: schema.ScopeTenant, Compat: compat}}
}

// withLayers runs f with only the given layers registered.
func withLayers(t *testing.T, ls ...Layer) {
	t.Helper()
	saved := layers
	layers = map[string]Layer{}
	t.Cleanup(func() { layers = saved })
	for _, l := range ls {
		Register(l)
	}
}

// A descriptor that names a layer this binary lacks is refused, naming the
// set and the layer: its clients would otherwise be answered by rules
// other than the ones its descriptor promises.
func TestForRefusesAnUnknownLayer(t *testing.T) {
	withLayers(t, Layer{Name: "known"})
	_, err := For(&schema.Schema{Sets: []*schema.ModelSet{set("a", "known"), set("b", "missing")}})
	if err == nil || !strings.Contains(err.Error(), `model set b 1.0.0`) || !strings.Contains(err.Error(), `"missing"`) {
		t.Fatalf("want a refusal naming set b and layer missing, got %v", err)
	}
}

// For lists each named layer once, in name order; Of picks a set's own.
func TestForAndOf(t *testing.T) {
	withLayers(t, Layer{Name: "y"}, Layer{Name: "x"}, Layer{Name: "unused"})
	a, b, c := set("a", "y", "x"), set("b", "x"), set("c")
	ls, err := For(&schema.Schema{Sets: []*schema.ModelSet{a, b, c}})
	if err != nil {
		t.Fatal(err)
	}
	if len(ls) != 2 || ls[0].Name != "x" || ls[1].Name != "y" {
		t.Fatalf("For: %+v", ls)
	}
	if got := Of(ls, b); len(got) != 1 || got[0].Name != "x" {
		t.Fatalf("Of(b): %+v", got)
	}
	if got := Of(ls, c); len(got) != 0 {
		t.Fatalf("Of(c): %+v", got)
	}
}

func TestRegisterTwicePanics(t *testing.T) {
	withLayers(t, Layer{Name: "x"})
	defer func() {
		if recover() == nil {
			t.Fatal("a second layer of the same name was accepted")
		}
	}()
	Register(Layer{Name: "x"})
}

// The problem's message member and the gNMI default origin follow the
// layers a set names, and only them.
func TestProblemMessageAndGNMIDefault(t *testing.T) {
	withLayers(t, Layer{Name: "m", ProblemMessage: true, GNMIDefault: true}, Layer{Name: "plain"})
	withM, plain := set("withm", "m"), set("plain", "plain")
	if !ProblemMessage(withM) || ProblemMessage(plain) || ProblemMessage(set("none")) {
		t.Fatal("ProblemMessage does not follow the set's layers")
	}
	if got := GNMIDefault(&schema.Schema{Sets: []*schema.ModelSet{plain, withM}}); got != withM {
		t.Fatalf("GNMIDefault = %v, want the set whose layer says so", got)
	}
	if got := GNMIDefault(&schema.Schema{Sets: []*schema.ModelSet{plain}}); got != nil {
		t.Fatalf("GNMIDefault without such a layer = %v, want none", got.Name)
	}
}
