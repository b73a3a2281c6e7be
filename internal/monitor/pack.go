package monitor

import _ "embed"

// Pack is the predefined alert pack, a Prometheus rule file
// (pack.rules.yml), shipped enabled.
//
//go:embed pack.rules.yml
var Pack []byte
