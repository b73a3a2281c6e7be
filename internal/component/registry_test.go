package component

import (
	"strings"
	"testing"

	"github.com/spf13/pflag"

	"github.com/amp-edge/amp/internal/controller"
)

func testRegistry(pushConfig *string) *Registry {
	r := &Registry{}
	build := func(Env) (controller.Adapter, func(), error) { return nil, nil, nil }
	r.Register(Adapter{Name: "sdcore", Default: true, New: build, Flags: func(fs *pflag.FlagSet) {
		fs.Bool("sdcore-delete-unknown", false, "")
	}})
	r.Register(Adapter{Name: "helm", New: build})
	r.Register(Adapter{Name: "gnmi", New: build, Enabled: func() bool { return *pushConfig != "" }, Flags: func(fs *pflag.FlagSet) {
		fs.StringVar(pushConfig, "gnmi-push-config", "", "")
	}})
	return r
}

func names(as []Adapter) string {
	var n []string
	for _, a := range as {
		n = append(n, a.Name)
	}
	return strings.Join(n, ",")
}

// TestAdaptersFlag: --adapters lists the registered adapters that it
// selects (not those enabled by their own flags), defaults to the default
// ones, and every adapter's flags are on the flag set.
func TestAdaptersFlag(t *testing.T) {
	for _, c := range []struct {
		args []string
		want string
		err  string
	}{
		{nil, "sdcore", ""},
		{[]string{"--adapters", "none"}, "", ""},
		{[]string{"--adapters", "helm,sdcore"}, "helm,sdcore", ""},
		{[]string{"--adapters", "none", "--gnmi-push-config", "push.yaml"}, "gnmi", ""},
		{[]string{"--gnmi-push-config", "push.yaml", "--sdcore-delete-unknown"}, "gnmi,sdcore", ""},
		{[]string{"--adapters", "gnmi"}, "", `--adapters: unknown adapter "gnmi" (known: helm, sdcore, none)`},
	} {
		var push string
		r := testRegistry(&push)
		fs := pflag.NewFlagSet("serve", pflag.ContinueOnError)
		r.AddFlags(fs)
		if err := fs.Parse(c.args); err != nil {
			t.Fatalf("%v: %v", c.args, err)
		}
		got, err := r.Enabled()
		if c.err != "" {
			if err == nil || err.Error() != c.err {
				t.Errorf("%v: error %v, want %q", c.args, err, c.err)
			}
			continue
		}
		if err != nil || names(got) != c.want {
			t.Errorf("%v: enabled %q, %v; want %q", c.args, names(got), err, c.want)
		}
	}
	fs := pflag.NewFlagSet("serve", pflag.ContinueOnError)
	var push string
	testRegistry(&push).AddFlags(fs)
	if u := fs.Lookup("adapters").Usage; u != "southbound adapters to run: helm, sdcore, or none (status: GET /sync-status)" {
		t.Errorf("--adapters help: %q", u)
	}
}

// TestRegisterTwicePanics: two adapters of one name are a programming
// error, found at start-up.
func TestRegisterTwicePanics(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Error("a second adapter named sdcore was registered")
		}
	}()
	var push string
	testRegistry(&push).Register(Adapter{Name: "sdcore", New: func(Env) (controller.Adapter, func(), error) { return nil, nil, nil }})
}
