package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strings"
	"text/tabwriter"

	"sigs.k8s.io/yaml"

	"github.com/amp-edge/amp/client"
)

// printJSON prints v as indented JSON.
func printJSON(w io.Writer, v any) error {
	var raw []byte
	var err error
	if r, ok := v.(json.RawMessage); ok {
		var buf bytes.Buffer
		if err = json.Indent(&buf, r, "", "  "); err != nil {
			return err
		}
		raw = buf.Bytes()
	} else if raw, err = json.MarshalIndent(v, "", "  "); err != nil {
		return err
	}
	_, err = fmt.Fprintf(w, "%s\n", raw)
	return err
}

// printYAML prints v as YAML.
func printYAML(w io.Writer, v any) error {
	raw, ok := v.(json.RawMessage)
	if !ok {
		var err error
		if raw, err = json.Marshal(v); err != nil {
			return err
		}
	}
	y, err := yaml.JSONToYAML(raw)
	if err != nil {
		return err
	}
	_, err = w.Write(y)
	return err
}

// printAs prints v as JSON or YAML.
func printAs(w io.Writer, format string, v any) error {
	if format == "yaml" {
		return printYAML(w, v)
	}
	return printJSON(w, v)
}

// decode parses JSON keeping numbers exact.
func decode(raw []byte) (any, error) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var v any
	err := dec.Decode(&v)
	return v, err
}

// scalarText formats a JSON scalar for a table cell or plain output.
func scalarText(v any) string {
	switch x := v.(type) {
	case nil:
		return ""
	case string:
		return x
	case json.Number:
		return x.String()
	case bool:
		if x {
			return "true"
		}
		return "false"
	}
	b, _ := json.Marshal(v)
	return string(b)
}

func isScalar(v any) bool {
	switch v.(type) {
	case map[string]any, []any:
		return false
	}
	return true
}

// table is a simple column table.
type table struct {
	header []string
	rows   [][]string
}

func (t *table) print(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	// Each cell is made safe on its own: the tabs between them are the
	// table's, not text to escape.
	cells := func(r []string) string {
		out := make([]string, len(r))
		for i, c := range r {
			out[i] = termSafe(strings.ReplaceAll(strings.ReplaceAll(c, "\t", " "), "\n", " "))
		}
		return strings.Join(out, "\t")
	}
	fmt.Fprintln(tw, cells(t.header))
	for _, r := range t.rows {
		fmt.Fprintln(tw, cells(r))
	}
	return tw.Flush()
}

// objectTable tabulates a list of objects: the key columns (keys, when
// known, else the *-id fields), display-name, then other scalar fields, at
// most maxCols columns; nested lists show as their entry count.
func objectTable(items []any, keys []string, maxCols int) *table {
	seen := map[string]bool{}
	var ids, scalars, nested []string
	for _, k := range keys {
		seen[k] = true
		ids = append(ids, k)
	}
	for _, it := range items {
		m, _ := it.(map[string]any)
		names := make([]string, 0, len(m))
		for k := range m {
			names = append(names, k)
		}
		sort.Strings(names)
		for _, k := range names {
			if seen[k] {
				continue
			}
			seen[k] = true
			switch {
			case !isScalar(m[k]):
				if _, isList := m[k].([]any); isList {
					nested = append(nested, k)
				}
			case len(keys) == 0 && strings.HasSuffix(k, "-id"):
				ids = append(ids, k)
			case k == "display-name":
				scalars = append([]string{k}, scalars...)
			default:
				scalars = append(scalars, k)
			}
		}
	}
	cols := append(append(ids, scalars...), nested...)
	if maxCols > 0 && len(cols) > maxCols && len(ids) < maxCols {
		cols = cols[:maxCols]
	}
	t := &table{}
	for _, c := range cols {
		t.header = append(t.header, strings.ToUpper(c))
	}
	for _, it := range items {
		m, _ := it.(map[string]any)
		row := make([]string, len(cols))
		for i, c := range cols {
			v := m[c]
			if l, ok := v.([]any); ok {
				row[i] = fmt.Sprintf("(%d)", len(l))
			} else if isScalar(v) {
				row[i] = scalarText(v)
			} else {
				row[i] = "{…}"
			}
		}
		t.rows = append(t.rows, row)
	}
	return t
}

// flatten lists the leaves of a tree as path/value pairs.
func flatten(prefix string, v any, out *[][2]string) {
	switch x := v.(type) {
	case map[string]any:
		names := make([]string, 0, len(x))
		for k := range x {
			names = append(names, k)
		}
		sort.Strings(names)
		for _, k := range names {
			p := k
			if prefix != "" {
				p = prefix + "/" + k
			}
			flatten(p, x[k], out)
		}
	case []any:
		allScalar := true
		for _, it := range x {
			allScalar = allScalar && isScalar(it)
		}
		if allScalar {
			parts := make([]string, len(x))
			for i, it := range x {
				parts[i] = scalarText(it)
			}
			*out = append(*out, [2]string{prefix, strings.Join(parts, ", ")})
			return
		}
		for i, it := range x {
			flatten(fmt.Sprintf("%s[%d]", prefix, i), it, out)
		}
	default:
		*out = append(*out, [2]string{prefix, scalarText(v)})
	}
}

// compact renders raw JSON on one line, shortened to max runes.
func compact(raw json.RawMessage, max int) string {
	if len(raw) == 0 {
		return ""
	}
	var buf bytes.Buffer
	if err := json.Compact(&buf, raw); err != nil {
		return string(raw)
	}
	s := buf.String()
	if max > 0 && len([]rune(s)) > max {
		s = string([]rune(s)[:max]) + "…"
	}
	return termSafe(s)
}

// printChanges prints changes as a readable diff:
//
//   - path = new        (create)
//     ~ path: old → new   (update)
//   - path (was old)    (delete)
func printChanges(w io.Writer, changes []client.Change) {
	for _, c := range changes {
		switch c.Op {
		case "create":
			fmt.Fprintf(w, "+ %s = %s\n", termSafe(c.Path), compact(c.New, 200))
		case "delete":
			fmt.Fprintf(w, "- %s (was %s)\n", termSafe(c.Path), compact(c.Old, 200))
		default:
			if isObjectJSON(c.Old) || isObjectJSON(c.New) {
				fmt.Fprintf(w, "~ %s\n    old: %s\n    new: %s\n", termSafe(c.Path), compact(c.Old, 200), compact(c.New, 200))
			} else {
				fmt.Fprintf(w, "~ %s: %s → %s\n", termSafe(c.Path), compact(c.Old, 200), compact(c.New, 200))
			}
		}
	}
}

func isObjectJSON(raw json.RawMessage) bool {
	s := bytes.TrimSpace(raw)
	return len(s) > 0 && (s[0] == '{' || s[0] == '[')
}

func plural(n int, one, many string) string {
	if n == 1 {
		return fmt.Sprintf("%d %s", n, one)
	}
	return fmt.Sprintf("%d %s", n, many)
}

// changeCounts summarises changes, e.g. "3 changes (1 created, 2 updated)".
func changeCounts(changes []client.Change) string {
	var cr, up, del int
	for _, c := range changes {
		switch c.Op {
		case "create":
			cr++
		case "delete":
			del++
		default:
			up++
		}
	}
	var parts []string
	if cr > 0 {
		parts = append(parts, fmt.Sprintf("%d created", cr))
	}
	if up > 0 {
		parts = append(parts, fmt.Sprintf("%d updated", up))
	}
	if del > 0 {
		parts = append(parts, fmt.Sprintf("%d deleted", del))
	}
	s := plural(len(changes), "change", "changes")
	if len(parts) > 0 {
		s += " (" + strings.Join(parts, ", ") + ")"
	}
	return s
}
