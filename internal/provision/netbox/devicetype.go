package netbox

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"sigs.k8s.io/yaml"
)

// LibraryType is one file of the community devicetype-library
// (github.com/netbox-community/devicetype-library, device-types/<Maker>/
// <model>.yaml): the fields the inventory has.
type LibraryType struct {
	Manufacturer string   `json:"manufacturer"`
	Model        string   `json:"model"`
	Slug         string   `json:"slug"`
	PartNumber   string   `json:"part_number"`
	UHeight      *float64 `json:"u_height"`
	IsFullDepth  *bool    `json:"is_full_depth"`
	Interfaces   []struct {
		Name     string `json:"name"`
		Type     string `json:"type"`
		Label    string `json:"label"`
		MgmtOnly bool   `json:"mgmt_only"`
	} `json:"interfaces"`
}

// ReadLibrary reads device types in the devicetype-library's YAML format
// from files or directories (every .yaml and .yml below them) and maps
// them like the NetBox import does: the manufacturer's id is its name as
// a slug, the type's id its slug. Every bad file is reported, with the
// file and the field.
func ReadLibrary(paths []string) (*Result, error) {
	var files []string
	for _, p := range paths {
		st, err := os.Stat(p)
		if err != nil {
			return nil, err
		}
		if !st.IsDir() {
			files = append(files, p)
			continue
		}
		err = filepath.WalkDir(p, func(f string, d fs.DirEntry, err error) error {
			if err == nil && !d.IsDir() && (strings.HasSuffix(f, ".yaml") || strings.HasSuffix(f, ".yml")) {
				files = append(files, f)
			}
			return err
		})
		if err != nil {
			return nil, err
		}
	}
	if len(files) == 0 {
		return nil, fmt.Errorf("no .yaml or .yml files in %s", strings.Join(paths, ", "))
	}
	m := &mapper{res: &Result{Counts: map[string]int{}}, mfrs: map[string]map[string]any{}}
	types := map[string]map[string]any{}
	from := map[string]string{}
	for _, f := range files {
		body, err := os.ReadFile(f)
		if err != nil {
			return nil, err
		}
		var lt LibraryType
		// The library has many more fields (console-ports, power-ports,
		// ...): they are read past.
		if err := yaml.Unmarshal(body, &lt); err != nil {
			m.fail(f, "", "not a device type: %v", err)
			continue
		}
		mfr := ident(lt.Manufacturer, false)
		id := ident(lt.Slug, false)
		switch {
		case mfr == "":
			m.fail(f, "manufacturer", "%q makes no manufacturer id", lt.Manufacturer)
			continue
		case lt.Model == "":
			m.fail(f, "model", "missing")
			continue
		case id == "":
			m.fail(f, "slug", "%q makes no device type id", lt.Slug)
			continue
		}
		if prev, dup := from[id]; dup {
			m.fail(f, "slug", "%q is %s's slug too", lt.Slug, prev)
			continue
		}
		from[id] = f
		uh := 1
		if lt.UHeight != nil {
			var ok bool
			if uh, ok = m.height(f, "u_height", *lt.UHeight, 0, 60); !ok {
				continue
			}
		}
		full := true
		if lt.IsFullDepth != nil {
			full = *lt.IsFullDepth
		}
		e := map[string]any{"device-type-id": id, "manufacturer": mfr, "model": clip(lt.Model, 100), "u-height": uh, "full-depth": full}
		opt(e, "part-number", lt.PartNumber)
		var its []map[string]any
		for i, it := range lt.Interfaces {
			if it.Name == "" || !typeSlug.MatchString(it.Type) {
				m.fail(f, fmt.Sprintf("interfaces[%d]", i), "needs a name and a type (e.g. 1000base-t)")
				continue
			}
			t := map[string]any{"name": it.Name, "type": it.Type, "mgmt-only": it.MgmtOnly}
			opt(t, "label", it.Label)
			its = append(its, t)
		}
		e["interface-template"] = anySlice(sortedBy(its, "name"))
		types[id] = e
		if m.mfrs[mfr] == nil {
			m.mfrs[mfr] = map[string]any{"manufacturer-id": mfr, "display-name": clip(lt.Manufacturer, 80)}
		}
	}
	if len(m.errs) > 0 {
		return nil, &MapError{Problems: m.errs}
	}
	m.res.Counts["manufacturers"] = len(m.mfrs)
	m.res.Counts["device-types"] = len(types)
	m.res.Tree = map[string]any{
		"manufacturer": anySlice(values(m.mfrs, "manufacturer-id")),
		"device-type":  anySlice(values(types, "device-type-id")),
	}
	return m.res, nil
}
