package main

// The compatibility layers amp serve offers: each registers itself with
// internal/api/compat from its package's init, and applies to the model
// sets whose descriptor names it (compat: [...]).
import (
	_ "github.com/amp-edge/amp/internal/aether/rocapi"
)
