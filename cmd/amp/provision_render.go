package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"github.com/amp-edge/amp/client"
)

// newProvisionRenderCmd is "amp provision render": a site's zero-touch
// artifacts written to a directory, or what changed since an index.
func newProvisionRenderCmd(g *globalOpts) *cobra.Command {
	var since uint64
	var prune bool
	cmd := &cobra.Command{
		Use:   "render SITE [DIR]",
		Short: "Write a site's generated artifacts (netplan, DHCP, DNS, …) to DIR, or list what changed",
		Long: `Render the zero-touch artifacts of an inventory site and write them under DIR.
There are seven kinds (docs/provisioning.md, "Zero-touch artifacts"):
  netplan     netplan/<device>.yaml: each server's network (netplan apply)
  dhcp        dhcp/kea-dhcp4.json: Kea DHCPv4 subnets and reservations by MAC
  dns         dns/<zone>.zone and dns/named.conf: forward and reverse zones
  ipxe        ipxe/menu.ipxe and ipxe/<fqdn>.ipxe: network boot of the servers
  ansible     ansible/inventory.yml and ansible/host_vars/<fqdn>.yml
  terraform   terraform/<cluster>.tfvars: each declared cluster's variables
  prometheus  prometheus/{node,snmp,blackbox}.json: service-discovery targets
The server renders them from the inventory; each file is written
atomically (a temporary file, then a rename) and only when its content
differs, and every created or updated file is printed. netplan files get
mode 0600 (netplan refuses others), the rest 0644. Files of artifacts the
site no longer renders (a device removed, a cluster undeclared) are left
alone, unless --prune: then every file under the seven kinds' directories
of DIR that the site does not render is removed, and printed; other files
of DIR are never touched.

With --since INDEX, nothing is written: the command lists the artifacts that
changed (new, changed or removed) since the inventory index INDEX, e.g. the
index a previous render printed.

Examples:
  amp provision render stanford1 /srv/stanford1
  amp provision render stanford1 /srv/stanford1 --prune
  amp provision render stanford1 --since 1234
  amp provision render stanford1 --since 1234 -o json`,
		Args: args(cobra.RangeArgs(1, 2)),
		RunE: runE(func(cmd *cobra.Command, a []string) error {
			ctx, cancel := g.context(cmd, 0)
			defer cancel()
			c := g.client()
			if cmd.Flags().Changed("since") {
				if len(a) == 2 || prune {
					return usagef("--since lists changes and writes nothing: give no DIR and no --prune")
				}
				format, err := g.outputFormat("table", "json", "yaml", "table")
				if err != nil {
					return err
				}
				list, err := c.Artifacts(ctx, a[0], &since)
				if err != nil {
					return err
				}
				return printArtifactChanges(cmd.OutOrStdout(), format, list)
			}
			if len(a) != 2 {
				return usagef("give the directory to write to (amp provision render SITE DIR), or --since INDEX")
			}
			// The inventory may change between the listing and the
			// reads: a content whose hash is not the listed one starts
			// over, a few times.
			var lastErr error
			for attempt := 0; attempt < 3; attempt++ {
				list, err := c.Artifacts(ctx, a[0], nil)
				if err != nil {
					return err
				}
				lastErr = writeArtifacts(cmd.OutOrStdout(), c, ctx, list, a[1])
				if lastErr == nil && prune {
					return pruneArtifacts(cmd.OutOrStdout(), list, a[1])
				}
				if lastErr != errArtifactMoved {
					return lastErr
				}
			}
			return fmt.Errorf("the site's artifacts kept changing while being written: try again")
		}),
	}
	cmd.Flags().Uint64Var(&since, "since", 0, "list the artifacts that changed since this inventory index (writes nothing)")
	cmd.Flags().BoolVar(&prune, "prune", false, "remove the files under DIR's artifact directories that the site no longer renders")
	return cmd
}

// artifactDirs are the directories of DIR the seven kinds of artifacts go
// to (the help above): the only ones --prune looks into.
var artifactDirs = []string{"netplan", "dhcp", "dns", "ipxe", "ansible", "terraform", "prometheus"}

// pruneArtifacts removes the regular files under DIR's artifact
// directories that list does not name, and prints each.
func pruneArtifacts(out io.Writer, list *client.ArtifactList, dir string) error {
	rendered := make(map[string]bool, len(list.Artifacts))
	for _, a := range list.Artifacts {
		rendered[a.Name] = true
	}
	removed := 0
	for _, kind := range artifactDirs {
		root := filepath.Join(dir, kind)
		err := filepath.WalkDir(root, func(path string, d os.DirEntry, err error) error {
			if errors.Is(err, fs.ErrNotExist) && path == root {
				return nil // the site renders none of this kind, and never did here
			}
			if err != nil || !d.Type().IsRegular() {
				return err
			}
			rel, err := filepath.Rel(dir, path)
			if err != nil || rendered[filepath.ToSlash(rel)] {
				return err
			}
			if err := os.Remove(path); err != nil {
				return err
			}
			removed++
			fmt.Fprintf(out, "removed %s\n", termSafe(path))
			return nil
		})
		if err != nil {
			return err
		}
	}
	fmt.Fprintf(out, "%d removed: the site no longer renders them\n", removed)
	return nil
}

var errArtifactMoved = fmt.Errorf("an artifact changed while being written")

func writeArtifacts(out io.Writer, c *client.Client, ctx context.Context, list *client.ArtifactList, dir string) error {
	unchanged := 0
	for _, info := range list.Artifacts {
		if !validArtifactName(info.Name) {
			return fmt.Errorf("the server listed an artifact with an unsafe name %q", info.Name)
		}
		path := filepath.Join(dir, filepath.FromSlash(info.Name))
		old, err := os.ReadFile(path)
		existed := err == nil
		if existed && sha256Hex(old) == info.SHA256 {
			unchanged++
			continue
		}
		body, _, err := c.Artifact(ctx, list.Site, info.Name)
		if err != nil {
			return err
		}
		if sha256Hex(body) != info.SHA256 {
			return errArtifactMoved
		}
		mode := os.FileMode(0o644)
		if strings.HasPrefix(info.Name, "netplan/") {
			mode = 0o600
		}
		if err := writeAtomic(path, body, mode); err != nil {
			return err
		}
		verb := "created"
		if existed {
			verb = "updated"
		}
		fmt.Fprintf(out, "%s %s\n", verb, termSafe(path))
	}
	fmt.Fprintf(out, "%d unchanged; site %s rendered from inventory index %d\n", unchanged, termSafe(list.Site), list.Index)
	return nil
}

// writeAtomic writes a file through a temporary file in its directory and
// a rename, so a reader never sees half of it.
func writeAtomic(path string, body []byte, mode os.FileMode) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	defer os.Remove(tmp) // after the rename: nothing left to remove
	if _, err := io.Copy(f, bytes.NewReader(body)); err != nil {
		f.Close()
		return err
	}
	if err := f.Chmod(mode); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

// validArtifactName refuses a name that would leave DIR.
func validArtifactName(name string) bool {
	if name == "" || strings.HasPrefix(name, "/") || strings.Contains(name, "\\") || filepath.Clean(name) != filepath.FromSlash(name) {
		return false
	}
	for _, s := range strings.Split(name, "/") {
		if s == "" || s == "." || s == ".." {
			return false
		}
	}
	return true
}

func sha256Hex(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// printArtifactChanges prints the artifacts new, changed or removed since the
// listing's index.
func printArtifactChanges(out io.Writer, format string, list *client.ArtifactList) error {
	type change struct {
		Name   string `json:"name"`
		Change string `json:"change"`
		SHA256 string `json:"sha256,omitempty"`
	}
	changes := []change{}
	for _, a := range list.Artifacts {
		if a.Changed != nil && *a.Changed {
			changes = append(changes, change{a.Name, "changed", a.SHA256})
		}
	}
	for _, n := range list.Removed {
		changes = append(changes, change{n, "removed", ""})
	}
	if format != "table" {
		return printAs(out, format, map[string]any{"site": list.Site, "since": list.Since, "index": list.Index, "changes": changes})
	}
	t := &table{header: []string{"ARTIFACT", "CHANGE"}}
	for _, c := range changes {
		t.rows = append(t.rows, []string{c.Name, c.Change})
	}
	if err := t.print(out); err != nil {
		return err
	}
	_, err := fmt.Fprintf(out, "%d of %d artifacts changed between inventory index %d and %d\n", len(changes), len(list.Artifacts)+len(list.Removed), *list.Since, list.Index)
	return err
}
