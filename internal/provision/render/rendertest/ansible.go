package rendertest

import (
	"bytes"
	"encoding/json"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// AnsibleInventory runs Ansible's own reader on dir/ansible/inventory.yml
// (and the host_vars beside it): ansible-inventory --list, with an
// unparsable inventory an error rather than an empty one
// (ANSIBLE_INVENTORY_UNPARSED_FAILED), in an Ansible home of its own. A
// warning (a reserved variable name, a bad group name, a skipped key)
// fails the test too. It returns the parsed --list output: "_meta"
// {"hostvars"} and each group's {"hosts", "children"}.
func AnsibleInventory(t testing.TB, dir string) map[string]any {
	t.Helper()
	cmd := exec.Command(Tool(t, "ansible-inventory"), "-i", filepath.Join(dir, "ansible", "inventory.yml"), "--list")
	home := t.TempDir()
	cmd.Env = append(cmd.Environ(), "ANSIBLE_INVENTORY_UNPARSED_FAILED=true", "ANSIBLE_HOME="+home,
		"ANSIBLE_LOCAL_TEMP="+filepath.Join(home, "tmp"), "ANSIBLE_NOCOLOR=true", "ANSIBLE_CONFIG="+filepath.Join(home, "none.cfg"))
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("ansible-inventory refused the inventory: %v\n%s", err, stderr.String())
	}
	if strings.Contains(stderr.String(), "WARNING") {
		t.Errorf("ansible-inventory warns:\n%s", stderr.String())
	}
	var out map[string]any
	if err := json.Unmarshal(stdout.Bytes(), &out); err != nil {
		t.Fatalf("ansible-inventory --list: %v\n%s", err, stdout.String())
	}
	return out
}
