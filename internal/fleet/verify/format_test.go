package verify

import (
	"strings"
	"testing"
)

// TestWriteGitHubEscapes: a message or path with a newline, colon, comma or
// percent sign stays one workflow command, escaped as the Actions toolkit
// does, so GitHub shows it on the right file and nothing else is injected.
func TestWriteGitHubEscapes(t *testing.T) {
	r := &Report{Findings: []Finding{{File: "a,b:c/Chart.yaml", Line: 7, Rule: RuleChartYAML, Message: "100% bad\n::error::injected", Fix: "x"}}}
	var b strings.Builder
	if err := Write(&b, r, FormatGitHub); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(b.String()), "\n")
	want := "::error file=a%2Cb%3Ac/Chart.yaml,line=7,title=amp verify%3A chart-yaml::100%25 bad%0A::error::injected. Fix: x"
	if len(lines) != 2 || lines[0] != want || !strings.HasPrefix(lines[1], "amp verify: FAILED, 1 finding(s)") {
		t.Errorf("got\n%s\nwant first line\n%s", b.String(), want)
	}
}

func TestWriteUnknownFormat(t *testing.T) {
	var b strings.Builder
	if err := Write(&b, &Report{}, "xml"); err == nil || b.Len() != 0 {
		t.Errorf("err %v, output %q", err, b.String())
	}
}
