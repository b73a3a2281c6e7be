package main

import (
	"fmt"
	"strings"
	"unicode/utf8"
)

// Text that tenants wrote (names, descriptions, messages, keys) reaches an
// operator's terminal and spreadsheet. termSafe and csvCell keep it from
// acting there instead of being read.

// termSafe shows the characters a terminal would act on as Go escapes:
// C0 controls (ESC starts the sequences that move the cursor, recolour,
// retitle the window or hide text), DEL, C1 controls (0x9b is an 8-bit
// CSI), the Unicode bidirectional controls that reorder what is displayed,
// and invalid UTF-8. Callers that lay out text with tabs and newlines
// escape the values, not their own layout.
func termSafe(s string) string {
	if !needsTermEscape(s) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			fmt.Fprintf(&b, `\x%02x`, s[i])
		case r < 0x20 || r == 0x7f:
			fmt.Fprintf(&b, `\x%02x`, r)
		case isTermControl(r):
			fmt.Fprintf(&b, `\u%04x`, r)
		default:
			b.WriteString(s[i : i+size])
		}
		i += size
	}
	return b.String()
}

func needsTermEscape(s string) bool {
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		if r < 0x20 || r == 0x7f || isTermControl(r) || r == utf8.RuneError && size == 1 {
			return true
		}
		i += size
	}
	return false
}

// isTermControl: C1 controls and bidirectional formatting characters.
func isTermControl(r rune) bool {
	return r >= 0x80 && r < 0xa0 || r == 0x061c || r == 0x200e || r == 0x200f ||
		r >= 0x202a && r <= 0x202e || r >= 0x2066 && r <= 0x2069
}

// csvCell keeps a spreadsheet from running a cell as a formula (CSV or
// "formula" injection: =HYPERLINK(…), =cmd|…): a cell that starts with
// = + - @, tab or carriage return gets a leading ', which spreadsheets show
// as text and do not evaluate. A cell that starts with ' gets one more, so
// csvValue undoes exactly what csvCell did and an import of an export
// reads every value back unchanged.
func csvCell(s string) string {
	if s != "" && strings.ContainsRune("=+-@\t\r'", rune(s[0])) {
		return "'" + s
	}
	return s
}

// csvValue undoes csvCell.
func csvValue(s string) string {
	if len(s) > 1 && s[0] == '\'' && strings.ContainsRune("=+-@\t\r'", rune(s[1])) {
		return s[1:]
	}
	return s
}
