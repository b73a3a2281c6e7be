package sdcore

import (
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/spf13/pflag"

	"github.com/amp-edge/amp/internal/component"
	"github.com/amp-edge/amp/internal/controller"
)

// flags are the --sdcore-* flags of amp serve.
var flags struct {
	legacyIPDomain      bool
	legacyIPDomainCores []string
	deleteUnknown       bool
	tokenFile           string
}

func init() {
	component.Register(component.Adapter{
		Name:    "sdcore",
		Default: true,
		Flags:   addFlags,
		New:     newFromFlags,
	})
}

func addFlags(f *pflag.FlagSet) {
	f.BoolVar(&flags.legacyIPDomain, "sdcore-legacy-ip-domain", false, "send SD-Core device groups in the form of webconsoles before v2.1.1 (one \"ip-domain-expanded\"), for every core; by default they go in the current \"ip-domains\" list form, and a webconsole given the other form drops the IP domain (AMP reads each object back and reports that as an error)")
	f.StringArrayVar(&flags.legacyIPDomainCores, "sdcore-legacy-ip-domain-core", nil, "a core endpoint (as in site connectivity-service) running a webconsole before v2.1.1: send it the legacy form; repeatable")
	f.BoolVar(&flags.deleteUnknown, "sdcore-delete-unknown", false, "let a full resync delete device groups and slices on a core that AMP did not create (only when AMP owns the core; by default other tools' objects on a shared core are left alone)")
	f.StringVar(&flags.tokenFile, "sdcore-token-file", "", "file holding the bearer token sent to webconsoles with authentication enabled (read once at start, never logged)")
}

// newFromFlags builds the adapter amp serve runs: its backends are the
// operator's, reached through the checked network, and what a core would
// refuse is refused at commit.
func newFromFlags(env component.Env) (controller.Adapter, func(), error) {
	opts := Options{LegacyIPDomain: flags.legacyIPDomain, DeleteUnknown: flags.deleteUnknown,
		Client: env.Network.HTTPClient(10 * time.Second), Backends: env.Backends, Metrics: env.Metrics}
	if len(flags.legacyIPDomainCores) > 0 {
		opts.LegacyIPDomainCores = map[string]bool{}
		for _, c := range flags.legacyIPDomainCores {
			opts.LegacyIPDomainCores[strings.TrimRight(c, "/")] = true
		}
	}
	if flags.tokenFile != "" {
		b, err := os.ReadFile(flags.tokenFile)
		if err != nil {
			return nil, nil, fmt.Errorf("--sdcore-token-file: %w", err)
		}
		if opts.Token = strings.TrimSpace(string(b)); opts.Token == "" {
			return nil, nil, fmt.Errorf("--sdcore-token-file: %s is empty", flags.tokenFile)
		}
	}
	ad := New(opts)
	env.Engine.AddCheck(ad.Check)
	return ad, nil, nil
}
