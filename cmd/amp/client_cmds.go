package main

import "github.com/spf13/cobra"

// addClientCommands registers the client verbs.
func addClientCommands(root *cobra.Command) {}
