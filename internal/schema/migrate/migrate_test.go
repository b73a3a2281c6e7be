package migrate_test

import (
	"errors"
	"os"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/amp-edge/amp/internal/schema"
	"github.com/amp-edge/amp/internal/schema/migrate"
	"github.com/amp-edge/amp/models"
)

// mod is a one-module set "inv" whose version differs by the body of its
// list "box".
func mod(body string) string {
	return `module inv { yang-version 1.1; namespace "urn:t:inv"; prefix inv;
  list box { key id; leaf id { type string; } ` + body + ` } }`
}

func load(t *testing.T, versions map[string][2]string) *schema.Schema {
	t.Helper()
	fs := fstest.MapFS{}
	for v, files := range versions {
		fs["inv/"+v+"/inv.yang"] = &fstest.MapFile{Data: []byte(mod(files[0]))}
		fs["inv/"+v+"/modelset.yaml"] = &fstest.MapFile{Data: []byte("name: inv\nversion: " + v + "\nscope: global\n" + files[1])}
	}
	sch, err := schema.Load(models.FS, fs)
	if err != nil {
		t.Fatal(err)
	}
	return sch
}

const v1 = `leaf size { type uint16; } container spec { leaf colour { type string; } }
  leaf-list tag { type string; } leaf old { type string; }`

func TestDeclaredRenames(t *testing.T) {
	sch := load(t, map[string][2]string{
		"1.0.0": {v1, ""},
		"2.0.0": {`leaf volume { type uint8 { range "1..100"; } } container shape { leaf colour { type string; } }
  leaf-list tag { type string; }`, "migrate-from:\n  - version: 1.0.0\n    rename:\n      box/size: box/volume\n      box/spec/colour: box/shape/colour\n"},
	})
	p, err := migrate.For(sch, "inv", "1.0.0", "2.0.0")
	if err != nil {
		t.Fatal(err)
	}
	from := sch.Set("inv", "1.0.0").Root.Child("box")
	stored := map[string]any{"id": "b1", "size": uint64(7), "spec": map[string]any{"colour": "red"}, "tag": []any{"x", "y"}}
	n, out, err := p.Convert(from, stored)
	if err != nil {
		t.Fatal(err)
	}
	if n != sch.Set("inv", "2.0.0").Root.Child("box") {
		t.Fatalf("converted to node %s of %s %s", n.SchemaPath(), n.Set.Name, n.Set.Version)
	}
	if out["volume"] != uint64(7) || out["size"] != nil || out["shape"].(map[string]any)["colour"] != "red" || len(out["tag"].([]any)) != 2 {
		t.Fatalf("converted data %v", out)
	}
	if stored["size"] != uint64(7) || stored["volume"] != nil {
		t.Fatalf("the stored data was modified: %v", stored)
	}
	// A value the new type cannot hold names the leaf and the reason.
	if _, _, err := p.Convert(from, map[string]any{"id": "b2", "size": uint64(300)}); err == nil || !strings.HasPrefix(err.Error(), "volume: ") {
		t.Fatalf("out of the new range: %v", err)
	}
	// A member the new version lacks, with no rename: refused, naming it.
	if _, _, err := p.Convert(from, map[string]any{"id": "b3", "old": "x"}); err == nil || !strings.Contains(err.Error(), "old: inv 2.0.0 has no such node") {
		t.Fatalf("member without a counterpart: %v", err)
	}
}

func TestGoConversionAfterRenames(t *testing.T) {
	sch := load(t, map[string][2]string{
		"1.0.0": {v1, ""},
		"1.5.0": {`leaf size { type string; } container spec { leaf colour { type string; } } leaf-list tag { type string; }`,
			"migrate-from:\n  - version: 1.0.0\n    rename:\n      box/old: box/spec/colour\n"},
	})
	migrate.Register("inv", "1.0.0", "1.5.0", func(o *migrate.Object) error {
		if o.Data["size"] == uint64(13) {
			return errors.New("size 13 is unlucky")
		}
		if v, ok := o.Data["size"]; ok {
			o.Data["size"] = schema.Format(v) + " l" // uint16 litres → text
		}
		return nil
	})
	p, err := migrate.For(sch, "inv", "1.0.0", "1.5.0")
	if err != nil {
		t.Fatal(err)
	}
	from := sch.Set("inv", "1.0.0").Root.Child("box")
	_, out, err := p.Convert(from, map[string]any{"id": "b1", "size": uint64(7), "old": "blue"})
	if err != nil {
		t.Fatal(err)
	}
	if out["size"] != "7 l" || out["spec"].(map[string]any)["colour"] != "blue" {
		t.Fatalf("converted data %v", out)
	}
	if _, _, err := p.Convert(from, map[string]any{"id": "b1", "size": uint64(13)}); err == nil || err.Error() != "size 13 is unlucky" {
		t.Fatalf("the Go conversion's error: %v", err)
	}
	defer func() {
		if recover() == nil {
			t.Fatal("a second registration of the same conversion was accepted")
		}
	}()
	migrate.Register("inv", "1.0.0", "1.5.0", func(*migrate.Object) error { return nil })
}

func TestPlanRefusals(t *testing.T) {
	sch := load(t, map[string][2]string{"1.0.0": {v1, ""}, "3.0.0": {v1, ""}})
	for _, tc := range []struct{ set, from, to, want string }{
		{"nope", "1.0.0", "3.0.0", `model set "nope" is not loaded`},
		{"inv", "1.0.0", "9.0.0", "version 9.0.0 of model set inv is not loaded (loaded: 1.0.0, 3.0.0)"},
		{"inv", "1.0.0", "1.0.0", "from and to are both 1.0.0"},
		{"inv", "1.0.0", "3.0.0", "no migration of inv from 1.0.0 to 3.0.0: declare one"},
	} {
		if _, err := migrate.For(sch, tc.set, tc.from, tc.to); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("For(%s, %s, %s) = %v, want %q", tc.set, tc.from, tc.to, err, tc.want)
		}
	}
	for rename, want := range map[string]string{
		"box/nothing: box/size": "no node box/nothing in inv 1.0.0",
		"box/size: box/nothing": "no node box/nothing in inv 4.0.0",
		"box/id: box/size":      "a key leaf cannot be renamed",
		"box: box":              "a list cannot be renamed",
	} {
		sch := load(t, map[string][2]string{"1.0.0": {v1, ""}, "4.0.0": {v1, "migrate-from:\n  - version: 1.0.0\n    rename:\n      " + rename + "\n"}})
		if _, err := migrate.For(sch, "inv", "1.0.0", "4.0.0"); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("rename %s: %v, want %q", rename, err, want)
		}
	}
}

// TestLabTestSet: the declared migration of the test set lab 1.0.0 →
// 1.1.0 (test/testdata/models-next) loads and renames height to units.
func TestLabTestSet(t *testing.T) {
	sch, err := schema.Load(models.FS, os.DirFS("../../../test/testdata/models"), os.DirFS("../../../test/testdata/models-next"))
	if err != nil {
		t.Fatal(err)
	}
	p, err := migrate.For(sch, "lab", "1.0.0", "1.1.0")
	if err != nil {
		t.Fatal(err)
	}
	_, out, err := p.Convert(sch.Set("lab", "1.0.0").Root.Child("rack"), map[string]any{"rack-id": "r1", "height": uint64(42), "tenant": "acme"})
	if err != nil || out["units"] != uint64(42) || out["tenant"] != "acme" {
		t.Fatalf("lab rack converted to %v, %v", out, err)
	}
}

// TestBack: the way back for reading reverses the declared renames, drops
// what the older version cannot show, and keeps refusing values it cannot
// hold; a Go conversion with none registered back has no way back.
func TestBack(t *testing.T) {
	sch := load(t, map[string][2]string{
		"1.0.0": {v1, ""},
		"2.0.0": {`leaf volume { type uint8 { range "1..100"; } } container shape { leaf colour { type string; } }
  leaf-list tag { type string; } leaf extra { type string; }`, "migrate-from:\n  - version: 1.0.0\n    rename:\n      box/size: box/volume\n      box/spec/colour: box/shape/colour\n"},
	})
	p, err := migrate.Back(sch, "inv", "1.0.0", "2.0.0")
	if err != nil {
		t.Fatal(err)
	}
	if p.From != sch.Set("inv", "2.0.0") || p.To != sch.Set("inv", "1.0.0") {
		t.Fatalf("Back converts %s to %s", p.From.Version, p.To.Version)
	}
	newer := sch.Set("inv", "2.0.0").Root.Child("box")
	stored := map[string]any{"id": "b1", "volume": uint64(7), "shape": map[string]any{"colour": "red"}, "extra": "x", "tag": []any{"a"}}
	n, out, err := p.Convert(newer, stored)
	if err != nil {
		t.Fatal(err)
	}
	if n != sch.Set("inv", "1.0.0").Root.Child("box") || out["size"] != uint64(7) || out["volume"] != nil ||
		out["spec"].(map[string]any)["colour"] != "red" || out["shape"] != nil || out["extra"] != nil || len(out["tag"].([]any)) != 1 {
		t.Fatalf("converted back to %s: %v", n.SchemaPath(), out)
	}
	if stored["volume"] != uint64(7) || stored["extra"] != "x" {
		t.Fatalf("the stored data was modified: %v", stored)
	}

	// Converted in Go one way only: no way back, said so.
	sch = load(t, map[string][2]string{"1.0.0": {v1, ""}, "6.0.0": {v1, ""}})
	migrate.Register("inv", "1.0.0", "6.0.0", func(*migrate.Object) error { return nil })
	if _, err := migrate.Back(sch, "inv", "1.0.0", "6.0.0"); err == nil || !strings.Contains(err.Error(), "no conversion back from inv 6.0.0 to 1.0.0") {
		t.Fatalf("Back of a Go conversion with none back: %v", err)
	}
	// With one registered back, it runs.
	migrate.Register("inv", "6.0.0", "1.0.0", func(o *migrate.Object) error {
		o.Data["old"] = "from Go"
		return nil
	})
	p, err = migrate.Back(sch, "inv", "1.0.0", "6.0.0")
	if err != nil {
		t.Fatal(err)
	}
	if _, out, err := p.Convert(sch.Set("inv", "6.0.0").Root.Child("box"), map[string]any{"id": "b1"}); err != nil || out["old"] != "from Go" {
		t.Fatalf("converted back in Go: %v, %v", out, err)
	}
}
