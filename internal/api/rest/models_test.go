package rest

import (
	"encoding/json"
	"strings"
	"testing"
)

// TestModels: GET /models lists the loaded sets with their descriptors and
// modules, to every role the policy knows (operator, enterprise admin,
// member); ?tree=true adds each set's tree; without a token it is 401.
func TestModels(t *testing.T) {
	s := newSecured(t)
	for _, who := range []string{"operator", "alice", "mallory"} {
		var sets []struct {
			Name     string
			Versions []struct {
				Version       string
				Scope         string
				RESTPrefix    string  `json:"rest-prefix"`
				OpenAPIPrefix *string `json:"openapi-prefix"`
				CLIName       string  `json:"cli-name"`
				Compat        []string
				Modules       []struct{ Name, Revision string }
				Tree          *struct{ Kind string }
			}
		}
		if err := json.Unmarshal([]byte(s.as(who).want(200, "GET", "/models", "")), &sets); err != nil {
			t.Fatal(err)
		}
		// The built-in sets, by name: Aether's, the fleet, the inventory and
		// the monitor set.
		if len(sets) != 4 || sets[3].Name != "monitor" || sets[3].Versions[0].Scope != "tenant" || strings.Join(sets[3].Versions[0].Compat, ",") != "monitor" || sets[0].Name != "aether" || len(sets[0].Versions) != 1 || sets[2].Name != "inventory" ||
			len(sets[2].Versions) != 1 || sets[2].Versions[0].Scope != "global" || strings.Join(sets[2].Versions[0].Compat, ",") != "provision,edge" ||
			sets[1].Name != "fleet" || len(sets[1].Versions) != 1 || sets[1].Versions[0].Scope != "global" || strings.Join(sets[1].Versions[0].Compat, ",") != "fleet,seal" {
			t.Fatalf("%s: GET /models = %+v", who, sets)
		}
		v := sets[0].Versions[0]
		if v.Version != "2.1.x" || v.Scope != "tenant" || v.RESTPrefix != "aether" || v.OpenAPIPrefix == nil || *v.OpenAPIPrefix != "" ||
			v.CLIName != "aether" || len(v.Compat) != 1 || v.Compat[0] != "aether-roc-api" || v.Tree != nil {
			t.Errorf("%s: aether's entry %+v", who, v)
		}
		found := false
		for _, m := range v.Modules {
			found = found || m.Name == "onf-site" && m.Revision != ""
		}
		if !found {
			t.Errorf("%s: modules %+v lack onf-site with its revision", who, v.Modules)
		}
	}
	var withTree []struct {
		Versions []struct{ Tree *struct{ Kind string } }
	}
	json.Unmarshal([]byte(s.as("alice").want(200, "GET", "/models?tree=true", "")), &withTree)
	if len(withTree) != 4 {
		t.Errorf("?tree=true: %+v", withTree)
	}
	for _, set := range withTree {
		if set.Versions[0].Tree == nil || set.Versions[0].Tree.Kind != "root" {
			t.Errorf("?tree=true: %+v", withTree)
		}
	}
	s.as("alice").want(400, "GET", "/models?tree=yes", "")
	anon := s.as("alice")
	anon.token = ""
	anon.want(401, "GET", "/models", "")
}
