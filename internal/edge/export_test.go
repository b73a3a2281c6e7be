package edge

// Changed is the channel a cluster's waiters wait on (nil: not cached):
// tests check that a commit closed only the right ones.
func (h *Hub) Changed(id string) chan struct{} {
	h.mu.Lock()
	defer h.mu.Unlock()
	if e := h.entries[id]; e != nil {
		return e.changed
	}
	return nil
}

// Processed is the index of the newest transaction the hub's watch has
// applied.
func (h *Hub) Processed() uint64 { return h.processed.Load() }
