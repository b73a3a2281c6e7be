package main

// The southbound adapters amp serve can run: each registers itself, with
// its flags, with internal/component from its package's init.
import (
	_ "github.com/amp-edge/amp/internal/adapter/gnmipush"
)
