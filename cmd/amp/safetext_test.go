package main

import "testing"

func TestCSVCellRoundTrips(t *testing.T) {
	for _, v := range []string{"", "plain", "=1+1", "+1", "-5", "@SUM(A1)", "\tx", "\rx", "'", "'quoted", "''", "'=x", "a=b"} {
		cell := csvCell(v)
		if cell != "" && cell != v && cell[0] != '\'' {
			t.Errorf("csvCell(%q) = %q", v, cell)
		}
		if got := csvValue(cell); got != v {
			t.Errorf("csvValue(csvCell(%q)) = %q", v, got)
		}
	}
}

func TestTermSafe(t *testing.T) {
	for in, want := range map[string]string{
		"plain ünïcode 名前": "plain ünïcode 名前",
		"a\x1b[2Jb":        `a\x1b[2Jb`,
		"\u202eevil":       `\u202eevil`,
		"c1\u009bx":        `c1\u009bx`,
		"bad\xffutf8":      `bad\xffutf8`,
		"del\x7f":          `del\x7f`,
	} {
		if got := termSafe(in); got != want {
			t.Errorf("termSafe(%q) = %q, want %q", in, got, want)
		}
	}
}
