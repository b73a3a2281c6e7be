package gnmipush

import (
	"fmt"

	"github.com/spf13/pflag"

	"github.com/amp-edge/amp/internal/component"
	"github.com/amp-edge/amp/internal/controller"
)

// configFile is --gnmi-push-config: set, the adapter runs.
var configFile string

func init() {
	component.Register(component.Adapter{
		Name: "gnmi",
		Flags: func(f *pflag.FlagSet) {
			f.StringVar(&configFile, "gnmi-push-config", "", "YAML file of configuration subtrees to push to gNMI targets, with mutual TLS (docs/controllers.md)")
		},
		Enabled: func() bool { return configFile != "" },
		New: func(env component.Env) (controller.Adapter, func(), error) {
			pc, err := LoadConfig(configFile)
			if err != nil {
				return nil, nil, err
			}
			ad, err := New(env.Schema, pc, env.Network)
			if err != nil {
				return nil, nil, fmt.Errorf("--gnmi-push-config: %w", err)
			}
			return ad, ad.Close, nil
		},
	})
}
