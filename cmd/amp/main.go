// Command amp is AMP's one binary: the central platform (amp serve) and the
// client verbs that drive it (amp get, set, apply, history, …).
package main

import (
	"os"
)

func main() {
	os.Exit(run(os.Args[1:]))
}
