package main

import (
	"context"
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/amp-edge/amp/client"
	"github.com/amp-edge/amp/internal/schema"
)

func newSetCmd(g *globalOpts) *cobra.Command {
	var dryRun bool
	var message string
	cmd := &cobra.Command{
		Use:   "set PATH=VALUE [PATH=VALUE...]",
		Short: "Set leaves, all in one transaction",
		Long: `Set one or more leaves; all assignments are ONE transaction (all or
nothing). Each PATH is a leaf path, full or short (relative to -e):

  amp set -e acme site/acme-chicago/upf/upf-1/port=8806
  amp set -e acme site/acme-chicago/sim-card/sim-1/imsi=315010001000042 \
                  site/acme-chicago/sim-card/sim-1/display-name="SIM one"

Values are typed by the model: a string leaf keeps the value as a string
(an IMSI keeps its leading zeros), numbers and booleans are parsed, and
"null" deletes the leaf. PATH:=JSON sends raw JSON, also for a whole
container, list or list entry:

  amp set -e acme 'site/acme-chicago/device-group/cameras/mbr:={"uplink":1000,"downlink":2000}'

Missing list entries on the way are created (merge semantics). Assignments
below one root (an enterprise's in a set, or a global set's) are sent as
one JSON merge patch on the deepest object they share; across enterprises
as one PATCH /` + compatROC + `, which takes the entries of the sets with
its rules.

After success the changes are printed as a diff (+ created, ~ updated,
- deleted); -o json|yaml prints the result instead. --dry-run shows the
changes without committing them.`,
		Args: args(cobra.MinimumNArgs(1)),
		ValidArgsFunction: func(cmd *cobra.Command, a []string, tc string) ([]string, cobra.ShellCompDirective) {
			return g.completePath(cmd, tc)
		},
		RunE: runE(func(cmd *cobra.Command, a []string) error {
			if _, err := g.outputFormat("table", "json", "yaml", "table"); err != nil {
				return err
			}
			ctx, cancel := g.context(cmd, 0)
			defer cancel()
			var asg []assignment
			for _, arg := range a {
				as, err := g.parseAssignment(ctx, arg)
				if err != nil {
					return err
				}
				asg = append(asg, as)
			}
			c := g.client(client.WithMessage(message))
			var res *client.WriteResult
			var err error
			if path, body, ok, berr := mergePatchBody(asg); berr != nil {
				return berr
			} else if ok {
				res, err = c.Patch(ctx, path, body, dryRun)
			} else {
				top, terr := topLevelBody(asg)
				if terr != nil {
					return terr
				}
				res, err = c.PatchTopLevel(ctx, top, dryRun)
			}
			if err != nil {
				return err
			}
			return g.reportWrite(cmd, c, res)
		}),
	}
	cmd.Flags().BoolVar(&dryRun, "dry-run", false, "validate and show the changes without committing them")
	cmd.Flags().StringVarP(&message, "message", "m", "", "commit message recorded in the history")
	return cmd
}

// assignment is one PATH=VALUE argument.
type assignment struct {
	arg   string
	mp    *modelPath
	set   *schema.ModelSet
	steps []step
	value any
}

func (g *globalOpts) parseAssignment(ctx context.Context, arg string) (assignment, error) {
	as := assignment{arg: arg}
	i := strings.IndexByte(arg, '=')
	if i <= 0 {
		return as, usagef("%q is not PATH=VALUE (or PATH:=JSON)", arg)
	}
	p, val := arg[:i], arg[i+1:]
	raw := strings.HasSuffix(p, ":")
	p = strings.TrimSuffix(p, ":")
	full, err := g.restPath(ctx, p)
	if err != nil {
		return as, err
	}
	mp, err := g.catalog(ctx).parse(full)
	if err != nil {
		return as, usageError{err}
	}
	if len(mp.segs) == 0 {
		return as, usagef("%s: give a path below the root of %s", arg, mp.root())
	}
	set := mp.set
	steps, err := walkPath(set, mp.segs)
	if err != nil {
		return as, usagef("%s: %v", p, err)
	}
	last := steps[len(steps)-1]
	as.mp, as.set, as.steps = mp, set, steps
	if raw {
		v, err := decode([]byte(val))
		if err != nil {
			return as, usagef("%s: the value after := is not JSON: %v", p, err)
		}
		as.value = v
		return as, nil
	}
	switch {
	case last.node.Kind == schema.Leaf:
		as.value = typedValue(last.node, val)
	case last.node.Kind == schema.LeafList:
		var items []any
		if val != "" {
			for _, s := range strings.Split(val, ",") {
				items = append(items, typedValue(last.node, s))
			}
		}
		as.value = items
	default:
		return as, usagef("%s is a %s, not a leaf: set its leaves, or send JSON with PATH:=JSON", p, last.node.Kind)
	}
	return as, nil
}

// place puts value at steps below tree m (a JSON object of the node above
// steps[0]), creating the containers and list entries on the way.
func place(m map[string]any, steps []step, value any) error {
	for i, st := range steps {
		n := st.node
		lastStep := i == len(steps)-1
		switch {
		case n.Kind == schema.List && st.keys != nil:
			items, _ := m[n.Name].([]any)
			var entry map[string]any
			for _, it := range items {
				em, _ := it.(map[string]any)
				if em != nil && sameKeys(n, em, st.keys) {
					entry = em
					break
				}
			}
			if entry == nil {
				entry = map[string]any{}
				for j, k := range n.Keys {
					entry[k] = typedValue(n.Child(k), st.keys[j])
				}
				m[n.Name] = append(items, entry)
			}
			if lastStep {
				vm, ok := value.(map[string]any)
				if !ok {
					return fmt.Errorf("a %s entry takes a JSON object", n.Name)
				}
				for k, v := range vm {
					entry[k] = v
				}
				return nil
			}
			m = entry
		case lastStep:
			m[n.Name] = value
			return nil
		case n.Kind == schema.Container:
			cm, ok := m[n.Name].(map[string]any)
			if !ok {
				cm = map[string]any{}
				m[n.Name] = cm
			}
			m = cm
		default:
			return fmt.Errorf("%s cannot hold %s", n.Name, steps[i+1].node.Name)
		}
	}
	return nil
}

func sameKeys(n *schema.Node, em map[string]any, keys []string) bool {
	for j, k := range n.Keys {
		if scalarText(em[k]) != keys[j] {
			return false
		}
	}
	return true
}

// boundaries lists the step counts after which a path sits on an object a
// merge patch can target: the enterprise root (0), a list entry or a
// container.
func boundaries(steps []step) []int {
	out := []int{0}
	for i, st := range steps[:len(steps)-1] {
		if (st.node.Kind == schema.List && st.keys != nil) || st.node.Kind == schema.Container {
			out = append(out, i+1)
		}
	}
	return out
}

// mergePatchBody builds, for assignments below one root, one merge patch
// on the deepest object they all lie below. ok is false when they span
// roots (enterprises or sets).
func mergePatchBody(asg []assignment) (string, any, bool, error) {
	root := asg[0].mp.root()
	for _, as := range asg[1:] {
		if as.mp.root() != root {
			return "", nil, false, nil
		}
	}
	// The deepest boundary shared by every assignment's path.
	depth := 0
	for _, b := range boundaries(asg[0].steps) {
		shared := true
		for _, as := range asg {
			if b >= len(as.steps) || !sameSegs(asg[0].mp.segs, as.mp.segs, segCount(asg[0].steps[:b])) {
				shared = false
				break
			}
		}
		if shared {
			depth = b
		}
	}
	prefix := asg[0].mp.segs[:segCount(asg[0].steps[:depth])]
	body := map[string]any{}
	for _, as := range asg {
		if err := place(body, as.steps[depth:], as.value); err != nil {
			return "", nil, false, fmt.Errorf("%s: %v", as.arg, err)
		}
	}
	path := root
	if len(prefix) > 0 {
		path += "/" + strings.Join(prefix, "/")
	}
	return path, body, true, nil
}

func segCount(steps []step) int {
	n := 0
	for _, st := range steps {
		n += 1 + len(st.keys)
	}
	return n
}

func sameSegs(a, b []string, n int) bool {
	if len(a) < n || len(b) < n {
		return false
	}
	for i := 0; i < n; i++ {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
