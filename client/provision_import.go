package client

import (
	"context"
	"net/http"
)

// InventoryImport is the body of POST /provision/import: the inventory
// set's root as a JSON merge patch (null clears a leaf) and whether to
// remove what the imported sites hold that it does not.
type InventoryImport struct {
	Inventory map[string]any `json:"inventory"`
	Prune     bool           `json:"prune"`
}

// ImportInventory sends an inventory mapped from elsewhere (NetBox, the
// devicetype-library) to POST /provision/import: ONE transaction; a dry
// run answers the changes.
func (c *Client) ImportInventory(ctx context.Context, body InventoryImport, dryRun bool) (*WriteResult, error) {
	return c.write(ctx, http.MethodPost, "/provision/import", body, dryRun, "application/json")
}
